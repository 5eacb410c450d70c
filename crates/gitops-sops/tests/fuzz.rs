//! Property tests: loading, decrypting and encrypting SOPS files never panic, overflow the stack
//! or run out of memory, whatever the input; errors name the file. `PROPTEST_CASES` sets the
//! number of cases; `scripts/fuzz.sh` runs them for longer.

use std::path::Path;
use std::sync::OnceLock;

use gitops_sops::{DecryptError, EncryptOptions, Keyring};
use proptest::prelude::*;

const IDENTITY: &str =
    "AGE-SECRET-KEY-1GFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPQ4EGAEX\n";

fn keys() -> &'static Keyring {
    static KEYS: OnceLock<Keyring> = OnceLock::new();
    KEYS.get_or_init(|| Keyring::from_identity_file("fuzz", IDENTITY).expect("key"))
}

/// Valid encrypted files, one per format, made once.
fn encrypted(name: &str) -> &'static [u8] {
    static FILES: OnceLock<Vec<(String, Vec<u8>)>> = OnceLock::new();
    let files = FILES.get_or_init(|| {
        let opts = EncryptOptions::default().with_age_recipients([keys().recipients()[0].clone()]);
        [
            (
                "s.yaml",
                "a: 1\nb: [x, {c: d}]\n# note\nlist:\n    - secret\n",
            ),
            ("s.json", "{\"a\": 1, \"b\": [\"x\", {\"c\": \"d\"}]}"),
            ("s.env", "A=1\n#c\nB=two\n"),
            ("s.ini", "[s]\na = 1\nb = two\n"),
        ]
        .into_iter()
        .map(|(n, p)| {
            let enc = gitops_sops::encrypt(Path::new(n), p.as_bytes(), &opts).expect("encrypt");
            (n.to_owned(), enc)
        })
        .collect()
    });
    files
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, b)| b.as_slice())
        .expect("known file")
}

fn soup() -> impl Strategy<Value = Vec<u8>> {
    let pieces = prop::sample::select(vec![
        &b"a: "[..],
        b"- ",
        b"  ",
        b"    ",
        b"\n",
        b"---\n",
        b"&x ",
        b"*x",
        b"[",
        b"]",
        b"{",
        b"}",
        b", ",
        b"'",
        b"\"",
        b"# c\n",
        b"<<: *x\n",
        b"!!binary ",
        b"!!str ",
        b"|\n  ",
        b"9999999999999999999999999",
        b"1e400",
        b"~",
        b"\xff\xfe",
        b"\xc3",
        b"=",
        b"sops:\n",
        b"sops_version=3.11.0\n",
        b"sops_mac=x\n",
        b"sops_age__list_0__map_enc=x\n",
        b"__list_99999999999",
        b"__map_",
        b"[sops]\n",
        b"version = 3.11.0\n",
        b"mac: x\n",
        b"    version: 3.11.0\n",
        b"ENC[AES256_GCM,data:AAAA,iv:AAAA,tag:AAAA,type:str]",
        b"{\"sops\": {\"version\": \"3.11.0\", \"mac\": \"x\"}}",
    ]);
    prop::collection::vec(pieces, 0..60).prop_map(|v| v.concat())
}

fn mutate(base: &[u8], edits: &[(prop::sample::Index, u8, u8, usize)]) -> Vec<u8> {
    let mut bytes = base.to_vec();
    for (at, kind, b, len) in edits {
        let i = at.index(bytes.len() + 1);
        match kind {
            0 => bytes.insert(i, *b),
            1 => {
                let end = (i + len).min(bytes.len());
                bytes.drain(i..end);
            }
            2 => {
                let end = (i + len).min(bytes.len());
                let copy = bytes[i..end].to_vec();
                bytes.splice(i..i, copy);
            }
            _ => {
                if let Some(x) = bytes.get_mut(i) {
                    *x ^= b;
                }
            }
        }
    }
    bytes
}

fn edits() -> impl Strategy<Value = Vec<(prop::sample::Index, u8, u8, usize)>> {
    prop::collection::vec(
        (
            any::<prop::sample::Index>(),
            0u8..4,
            any::<u8>(),
            0usize..64,
        ),
        1..8,
    )
}

fn deep(n: usize) -> Vec<u8> {
    let mut s = String::from("a:\n");
    for i in 0..n {
        s.push_str(&" ".repeat(i % 300));
        s.push_str("- \n");
    }
    s.push_str("sops:\n    version: 3.11.0\n    mac: x\n");
    s.into_bytes()
}

/// Decrypting anything must end in an error naming the file (or, for a valid file, succeed).
fn check_decrypt(name: &str, content: &[u8]) -> Result<(), TestCaseError> {
    let path = Path::new(name);
    let _ = gitops_sops::is_encrypted(path, content);
    if let Err(e) = gitops_sops::decrypt(path, content, keys()) {
        let named = match &e {
            DecryptError::Malformed { path, .. }
            | DecryptError::Integrity { path, .. }
            | DecryptError::MissingKey { path, .. } => path == name,
            _ => e.to_string().contains(name),
        };
        prop_assert!(named, "error names no file: {e:?}");
    }
    let opts = EncryptOptions::default().with_age_recipients([keys().recipients()[0].clone()]);
    let _ = gitops_sops::encrypt(path, content, &opts);
    Ok(())
}

/// proptest's configuration from its environment (`PROPTEST_CASES`, `PROPTEST_RNG_SEED`), with
/// a small default number of cases for the everyday suite.
fn config(default_cases: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default_cases);
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config(64))]

    #[test]
    fn fuzz_sops_yaml(content in prop_oneof![soup(), (1usize..3000).prop_map(deep)]) {
        check_decrypt("f.yaml", &content)?;
    }

    #[test]
    fn fuzz_sops_json(content in prop_oneof![soup(), edits().prop_map(|e| mutate(encrypted("s.json"), &e))]) {
        check_decrypt("f.json", &content)?;
    }

    #[test]
    fn fuzz_sops_dotenv(content in prop_oneof![soup(), edits().prop_map(|e| mutate(encrypted("s.env"), &e))]) {
        check_decrypt("f.env", &content)?;
    }

    #[test]
    fn fuzz_sops_ini(content in prop_oneof![soup(), edits().prop_map(|e| mutate(encrypted("s.ini"), &e))]) {
        check_decrypt("f.ini", &content)?;
    }

    #[test]
    fn fuzz_sops_decrypt_mutated(
        which in prop::sample::select(vec!["s.yaml", "s.json", "s.env", "s.ini"]),
        e in edits(),
    ) {
        let content = mutate(encrypted(which), &e);
        check_decrypt(which, &content)?;
    }
}
