//! Hostile YAML: deep nesting and alias bombs end in a clear error naming the file, in bounded
//! stack and memory, on a thread with the stack of a runtime worker.

use std::path::Path;

use gitops_sops::{DecryptError, Keyring};

const IDENTITY: &str =
    "AGE-SECRET-KEY-1GFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPQ4EGAEX\n";

/// Runs `f` on a thread with tokio's default worker stack (2 MiB), as a controller would.
fn on_worker_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(f)
        .expect("spawn")
        .join()
        .expect("no panic")
}

fn sops_footer() -> &'static str {
    "sops:\n    mac: ENC[AES256_GCM,data:AAAA,iv:AAAA,tag:AAAA,type:str]\n    version: 3.11.0\n"
}

fn malformed_message(e: &DecryptError) -> String {
    let DecryptError::Malformed { path, source } = e else {
        panic!("expected a malformed-file error, got {e:?}");
    };
    format!("{path}: {source}")
}

#[test]
fn deeply_nested_yaml_is_an_error_not_a_stack_overflow() {
    for (name, deep) in [
        ("block", {
            let mut s = String::from("a:\n");
            for i in 0..4000 {
                s.push_str(&" ".repeat(i));
                s.push_str("-\n");
            }
            s
        }),
        (
            "flow",
            format!("a: {}{}\n", "[".repeat(4000), "]".repeat(4000)),
        ),
    ] {
        let text = format!("{deep}{}", sops_footer());
        let e = on_worker_stack(move || {
            let keys = Keyring::from_identity_file("test", IDENTITY).expect("key");
            gitops_sops::decrypt(Path::new("deep.yaml"), text.as_bytes(), &keys)
                .expect_err("too deep")
        });
        let msg = malformed_message(&e);
        assert!(msg.starts_with("deep.yaml: "), "{name}: {msg}");
        // Our bound for block collections, the parser's own for flow collections.
        assert!(
            (msg.contains("nest") || msg.contains("recursion limit")) && msg.contains("line "),
            "{name}: {msg}"
        );
    }
}

#[test]
fn alias_bombs_are_bounded_per_file() {
    // One document: 10^9 nodes once expanded.
    let mut bomb = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
    let mut prev = 'a';
    for c in 'b'..='j' {
        bomb.push_str(&format!(
            "{c}: &{c} [{}]\n",
            vec![format!("*{prev}"); 10].join(", ")
        ));
        prev = c;
    }
    // Many documents, each small enough alone: the bound is per file, not per document.
    let mut many = String::new();
    for _ in 0..200 {
        many.push_str("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
        for c in 'b'..='e' {
            let p = (c as u8 - 1) as char;
            many.push_str(&format!(
                "{c}: &{c} [{}]\n",
                vec![format!("*{p}"); 10].join(", ")
            ));
        }
        many.push_str("---\n");
    }
    for (name, text) in [("bomb", bomb), ("many", many)] {
        let text = format!("{text}{}", sops_footer());
        let started = std::time::Instant::now();
        let e = on_worker_stack(move || {
            let keys = Keyring::from_identity_file("test", IDENTITY).expect("key");
            gitops_sops::decrypt(Path::new("bomb.yaml"), text.as_bytes(), &keys)
                .expect_err("bounded")
        });
        let msg = malformed_message(&e);
        assert!(msg.starts_with("bomb.yaml: "), "{name}: {msg}");
        assert!(msg.contains("alias"), "{name}: {msg}");
        assert!(
            started.elapsed().as_secs() < 20,
            "{name}: {:?}",
            started.elapsed()
        );
    }
}

#[test]
fn deeply_nested_json_is_an_error_not_a_stack_overflow() {
    let text = format!(
        "{{\"a\": {}{}, \"sops\": {{\"version\": \"3.11.0\", \"mac\": \"x\"}}}}",
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    let e = on_worker_stack(move || {
        let keys = Keyring::from_identity_file("test", IDENTITY).expect("key");
        gitops_sops::decrypt(Path::new("deep.json"), text.as_bytes(), &keys).expect_err("deep")
    });
    let msg = malformed_message(&e);
    assert!(msg.starts_with("deep.json: "), "{msg}");
}

#[test]
fn nesting_up_to_the_bound_round_trips_on_a_worker_stack() {
    // 200 mappings below the root: the deepest a file may go.
    let mut text = String::new();
    for i in 0..200 {
        text.push_str(&"    ".repeat(i));
        text.push_str(&format!("k{i}:\n"));
    }
    text.push_str(&"    ".repeat(200));
    text.push_str("secret: value\n");
    let plain = text.clone();
    let round_trip = on_worker_stack(move || {
        let keys = Keyring::from_identity_file("test", IDENTITY).expect("key");
        let recipient = keys.recipients()[0].clone();
        let opts = gitops_sops::EncryptOptions::default().with_age_recipients([recipient]);
        let enc = gitops_sops::encrypt(Path::new("deep.yaml"), plain.as_bytes(), &opts)
            .expect("encrypts");
        let dec = gitops_sops::decrypt(Path::new("deep.yaml"), &enc, &keys).expect("decrypts");
        dec.expose().to_vec()
    });
    assert_eq!(String::from_utf8(round_trip).expect("utf-8"), text);
}

#[test]
fn flattened_metadata_in_dotenv_and_ini_is_bounded() {
    let huge_index = "sops_version=3.11.0\nsops_mac=x\nsops_age__list_100000000000__map_enc=x\n";
    let deep = format!(
        "sops_version=3.11.0\nsops_mac=x\nsops_x{}=1\n",
        "__map_a".repeat(100_000)
    );
    let ini_index = "[sops]\nversion = 3.11.0\nmac = x\nage__list_100000000000__map_enc = x\n";
    for (name, text) in [
        ("a.env", huge_index.to_owned()),
        ("b.env", deep),
        ("c.ini", ini_index.to_owned()),
    ] {
        let started = std::time::Instant::now();
        let e = on_worker_stack(move || {
            let keys = Keyring::from_identity_file("test", IDENTITY).expect("key");
            gitops_sops::decrypt(Path::new(name), text.as_bytes(), &keys).expect_err("bounded")
        });
        let msg = malformed_message(&e);
        assert!(msg.starts_with(name), "{msg}");
        assert!(msg.contains("metadata"), "{msg}");
        assert!(started.elapsed().as_secs() < 10, "{:?}", started.elapsed());
    }
}
