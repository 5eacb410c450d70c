//! Bad input: clear errors, no plaintext anywhere in them.

mod common;

use std::path::Path;

use common::{Env, keyring, sops};
use gitops_core::Decryptor;
use gitops_sops::{DecryptError, EncryptOptions, SopsDecryptor};

const SECRET: &str = "s3cr3t-Plaintext-Value";

fn plain() -> String {
    format!("password: {SECRET}\nuser: admin\nlist:\n  - {SECRET}-2\n")
}

/// The error, its Display, its Debug and its whole source chain must not hold plaintext.
fn assert_clean(e: &dyn std::error::Error) {
    let mut text = format!("{e} {e:?}");
    let mut cur = e.source();
    while let Some(s) = cur {
        text.push_str(&format!(" {s} {s:?}"));
        cur = s.source();
    }
    assert!(!text.contains("s3cr3t"), "plaintext leaked: {text}");
    let key_material = text
        .match_indices("AGE-SECRET-KEY-1")
        .any(|(i, m)| text[i + m.len()..].starts_with(|c: char| c.is_ascii_alphanumeric()));
    assert!(!key_material, "key leaked: {text}");
}

fn encrypted(env: &Env) -> (common::Key, Vec<u8>) {
    let k = env.key("k");
    let enc = gitops_sops::encrypt(
        Path::new("s.yaml"),
        plain().as_bytes(),
        &EncryptOptions::default().with_age_recipients([k.recipient.clone()]),
    )
    .expect("encrypt");
    (k, enc)
}

#[test]
fn tampered_value_is_an_integrity_error() {
    let env = Env::new();
    let (k, enc) = encrypted(&env);
    let text = String::from_utf8(enc).expect("utf-8");
    // Swap the ciphertexts of two values: each is bound to its own path.
    let start = text.find("data:").expect("a value") + 5;
    let mut bytes = text.into_bytes();
    bytes[start] = if bytes[start] == b'A' { b'B' } else { b'A' };
    let e =
        gitops_sops::decrypt(Path::new("s.yaml"), &bytes, &keyring(&[&k])).expect_err("tampered");
    assert!(matches!(e, DecryptError::Integrity { .. }), "{e:?}");
    assert_clean(&e);
}

#[test]
fn moved_value_is_an_integrity_error() {
    let env = Env::new();
    let k = env.key("k");
    let enc = gitops_sops::encrypt(
        Path::new("s.yaml"),
        format!("a: {SECRET}\nb: other\n").as_bytes(),
        &EncryptOptions::default().with_age_recipients([k.recipient.clone()]),
    )
    .expect("encrypt");
    let text = String::from_utf8(enc).expect("utf-8");
    let a = text.lines().find(|l| l.starts_with("a: ")).expect("a")[3..].to_string();
    let b = text.lines().find(|l| l.starts_with("b: ")).expect("b")[3..].to_string();
    let swapped = text
        .replace(&a, "@@A@@")
        .replace(&b, &a)
        .replace("@@A@@", &b);
    let e = gitops_sops::decrypt(Path::new("s.yaml"), swapped.as_bytes(), &keyring(&[&k]))
        .expect_err("swapped");
    assert!(matches!(e, DecryptError::Integrity { .. }), "{e:?}");
    assert_clean(&e);
}

#[test]
fn tampered_mac_is_an_integrity_error() {
    let env = Env::new();
    let (k, enc) = encrypted(&env);
    let text = String::from_utf8(enc).expect("utf-8");
    let mac_at =
        text.find("mac: ENC[AES256_GCM,data:").expect("mac") + "mac: ENC[AES256_GCM,data:".len();
    let mut bytes = text.into_bytes();
    bytes[mac_at] = if bytes[mac_at] == b'A' { b'B' } else { b'A' };
    let e = gitops_sops::decrypt(Path::new("s.yaml"), &bytes, &keyring(&[&k]))
        .expect_err("tampered mac");
    assert!(matches!(e, DecryptError::Integrity { .. }), "{e:?}");
    assert_clean(&e);
    // Dropping a value changes the MAC too.
    let text = String::from_utf8(bytes).expect("utf-8");
    let _ = text;
    let (k2, enc2) = encrypted(&env);
    let text2 = String::from_utf8(enc2).expect("utf-8");
    let without_user: String = text2
        .lines()
        .filter(|l| !l.starts_with("user:"))
        .map(|l| format!("{l}\n"))
        .collect();
    let e = gitops_sops::decrypt(
        Path::new("s.yaml"),
        without_user.as_bytes(),
        &keyring(&[&k2]),
    )
    .expect_err("removed value");
    assert!(matches!(e, DecryptError::Integrity { .. }), "{e:?}");
}

#[test]
fn wrong_key_names_the_recipients() {
    let env = Env::new();
    let (k, enc) = encrypted(&env);
    let other = env.key("other");
    let e = gitops_sops::decrypt(Path::new("s.yaml"), &enc, &keyring(&[&other]))
        .expect_err("wrong key");
    match &e {
        DecryptError::MissingKey { recipients, .. } => {
            assert_eq!(recipients, &vec![k.recipient.clone()])
        }
        other => panic!("{other:?}"),
    }
    assert!(e.to_string().contains(&k.recipient), "{e}");
    assert_clean(&e);
    let e = gitops_sops::decrypt(Path::new("s.yaml"), &enc, &gitops_sops::Keyring::new())
        .expect_err("no key");
    assert!(matches!(e, DecryptError::MissingKey { .. }));
}

#[test]
fn truncated_armor_is_malformed() {
    let env = Env::new();
    let (k, enc) = encrypted(&env);
    let text = String::from_utf8(enc).expect("utf-8");
    let lines: Vec<&str> = text.lines().collect();
    let begin = lines
        .iter()
        .position(|l| l.contains("BEGIN AGE ENCRYPTED FILE"))
        .expect("armor");
    let truncated: String = lines
        .iter()
        .enumerate()
        .filter(|(i, _)| !(*i > begin + 1 && *i < begin + 6))
        .map(|(_, l)| format!("{l}\n"))
        .collect();
    let e = gitops_sops::decrypt(Path::new("s.yaml"), truncated.as_bytes(), &keyring(&[&k]))
        .expect_err("truncated");
    assert!(matches!(e, DecryptError::Malformed { .. }), "{e:?}");
    assert_clean(&e);
}

#[test]
fn unsupported_key_types_are_named() {
    let file = "password: ENC[AES256_GCM,data:AAAA,iv:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=,tag:AAAAAAAAAAAAAAAAAAAAAA==,type:str]\n\
sops:\n    kms:\n        - arn: arn:aws:kms:us-east-1:123:key/abc\n          created_at: \"2026-01-01T00:00:00Z\"\n          enc: AQICAH\n          aws_profile: \"\"\n    pgp:\n        - created_at: \"2026-01-01T00:00:00Z\"\n          enc: |\n            -----BEGIN PGP MESSAGE-----\n            x\n            -----END PGP MESSAGE-----\n          fp: 0123456789ABCDEF\n    lastmodified: \"2026-01-01T00:00:00Z\"\n    mac: ENC[AES256_GCM,data:AAAA,iv:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=,tag:AAAAAAAAAAAAAAAAAAAAAA==,type:str]\n    unencrypted_suffix: _unencrypted\n    version: 3.11.0\n";
    let env = Env::new();
    let k = env.key("k");
    let e = gitops_sops::decrypt(Path::new("s.yaml"), file.as_bytes(), &keyring(&[&k]))
        .expect_err("pgp/kms");
    match &e {
        DecryptError::Unsupported {
            what, supported, ..
        } => {
            assert!(what.contains("pgp") && what.contains("AWS KMS"), "{what}");
            assert!(supported.contains("age"), "{supported}");
        }
        other => panic!("{other:?}"),
    }
    assert!(
        e.to_string().contains("not supported by this decryptor"),
        "{e}"
    );
}

#[test]
fn non_sops_files_are_left_alone_or_refused() {
    let env = Env::new();
    let k = env.key("k");
    let d = SopsDecryptor::new(keyring(&[&k]));
    for (name, content) in [
        ("plain.yaml", format!("password: {SECRET}\n")),
        ("plain.json", format!("{{\"password\": \"{SECRET}\"}}")),
        ("plain.env", format!("PASSWORD={SECRET}\n")),
        ("plain.bin", SECRET.to_string()),
        ("broken.yaml", format!("a: [unclosed {SECRET}\n")),
        ("sops-key.yaml", format!("sops: not metadata {SECRET}\n")),
    ] {
        assert!(
            d.decrypt_file(Path::new(name), content.as_bytes())
                .expect("not an error")
                .is_none(),
            "{name}"
        );
        let e = gitops_sops::decrypt(Path::new(name), content.as_bytes(), d.keyring())
            .expect_err("not sops");
        assert!(
            format!(
                "{e:?} {}",
                std::error::Error::source(&e)
                    .map(|s| s.to_string())
                    .unwrap_or_default()
            )
            .contains("not a SOPS file"),
            "{e:?}"
        );
        assert_clean(&e);
    }
}

#[test]
fn keys_parse_from_files_strings_and_secrets() {
    let env = Env::new();
    let (a, b) = (env.key("a"), env.key("b"));
    let file = format!(
        "# created: now\n# public key: {}\n{}\n\n# second\n{}\n",
        a.recipient, a.secret, b.secret
    );
    let ring = gitops_sops::Keyring::from_identity_file("keys.txt", &file).expect("file");
    assert_eq!(
        ring.recipients(),
        vec![a.recipient.clone(), b.recipient.clone()]
    );
    let ring = gitops_sops::Keyring::from_env_like(Some(&a.secret), Some(&b.secret)).expect("env");
    assert_eq!(ring.len(), 2);
    let debug = format!("{ring:?}");
    assert!(!debug.contains("AGE-SECRET-KEY"), "{debug}");
    let e = gitops_sops::Keyring::from_identity_file("keys.txt", "AGE-SECRET-KEY-1NOTAKEY\n")
        .expect_err("bad");
    assert!(e.to_string().contains("keys.txt:1"), "{e}");
    assert_clean(&e);
}

#[test]
fn sops_rejects_tampering_too() {
    // Sanity check of the test itself against the reference.
    let Some(sops) = sops() else { return };
    let env = Env::new();
    let (k, enc) = encrypted(&env);
    let mut text = String::from_utf8(enc).expect("utf-8");
    let at = text.find("data:").expect("value") + 5;
    let c = if &text[at..at + 1] == "A" { "B" } else { "A" };
    text.replace_range(at..at + 1, c);
    let p = env.write("t.yaml", &text);
    assert!(sops.decrypt(&env, &[&k], &p).is_err());
}

#[test]
fn missing_key_lists_other_key_types_too() {
    let env = Env::new();
    let (k, enc) = encrypted(&env);
    let text = String::from_utf8(enc).expect("utf-8").replace(
        "sops:\n",
        "sops:\n    pgp:\n        - created_at: \"2026-01-01T00:00:00Z\"\n          enc: x\n          fp: 0123456789ABCDEF\n",
    );
    let other = env.key("other");
    match gitops_sops::decrypt(Path::new("s.yaml"), text.as_bytes(), &keyring(&[&other])) {
        Err(DecryptError::MissingKey { recipients, .. }) => {
            assert_eq!(
                recipients,
                vec![k.recipient.clone(), "pgp:0123456789ABCDEF".to_string()]
            );
        }
        other => panic!("{other:?}"),
    }
    // The age key still opens it.
    assert!(gitops_sops::decrypt(Path::new("s.yaml"), text.as_bytes(), &keyring(&[&k])).is_ok());
}

#[test]
fn remembered_data_keys_do_not_skip_the_mac() {
    let env = Env::new();
    let (k, enc) = encrypted(&env);
    let d = SopsDecryptor::new(keyring(&[&k]));
    let first = d
        .decrypt_file(Path::new("s.yaml"), &enc)
        .expect("ok")
        .expect("sops");
    let second = d
        .decrypt_file(Path::new("s.yaml"), &enc)
        .expect("ok")
        .expect("sops");
    assert_eq!(first.expose(), second.expose());
    // Same data key, altered value: still refused.
    let text = String::from_utf8(enc).expect("utf-8");
    let at = text.find("data:").expect("value") + 5;
    let mut bytes = text.into_bytes();
    bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
    let e = d
        .decrypt_file(Path::new("s.yaml"), &bytes)
        .expect_err("tampered");
    assert!(matches!(e, DecryptError::Integrity { .. }), "{e:?}");
    assert!(!format!("{d:?}").contains("s3cr3t"));
}
