//! Sprig's random key, certificate and password functions: what they produce is checked by
//! independent tools. Certificates and keys are parsed and verified by the `openssl` CLI
//! (chain, validity days, SANs, key usages); `htpasswd`/`bcrypt` hashes are verified with the
//! `bcrypt` crate; `decryptAES` reads what the real Helm's `encryptAES` wrote.
#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use std::path::{Path, PathBuf};
use std::process::Command;

use gitops_gotmpl::{Functions, Templates, Value};

fn render(text: &str) -> String {
    let mut set = Templates::new(Functions::sprig());
    set.add("t", text).unwrap();
    set.execute("t", &Value::Nil).unwrap()
}

fn render_err(text: &str) -> String {
    let mut set = Templates::new(Functions::sprig());
    set.add("t", text).unwrap();
    set.execute("t", &Value::Nil).unwrap_err().to_string()
}

/// `openssl` with arguments; its stdout, or a panic with its stderr.
fn openssl(args: &[&str]) -> String {
    let out = Command::new("openssl")
        .args(args)
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn openssl_available() -> bool {
    let found = Command::new("openssl").arg("version").output().is_ok();
    if !found {
        assert!(
            std::env::var_os("GITOPS_TESTENV_REQUIRED").is_none(),
            "openssl is required"
        );
        eprintln!("skipped: no openssl CLI");
    }
    found
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// Renders `{{ $x := EXPR }}{{ $x.Cert }}|{{ $x.Key }}` … and splits the PEMs.
fn cert_and_key(text: &str) -> Vec<(String, String)> {
    render(text)
        .split('#')
        .filter(|s| !s.is_empty())
        .map(|pair| {
            let (c, k) = pair.split_once('|').unwrap();
            (c.to_string(), k.to_string())
        })
        .collect()
}

/// Days between notBefore and notAfter, from `openssl x509 -dates`.
fn validity_days(cert: &Path) -> i64 {
    let dates = openssl(&[
        "x509",
        "-in",
        cert.to_str().unwrap(),
        "-noout",
        "-startdate",
        "-enddate",
        "-dateopt",
        "iso_8601",
    ]);
    let parse = |prefix: &str| -> i64 {
        let line = dates.lines().find(|l| l.starts_with(prefix)).unwrap();
        let v = &line[prefix.len()..];
        // 2026-12-07 02:45:00Z
        let (y, m, d): (i64, i64, i64) = (
            v[0..4].parse().unwrap(),
            v[5..7].parse().unwrap(),
            v[8..10].parse().unwrap(),
        );
        let secs: i64 = v[11..13].parse::<i64>().unwrap() * 3600
            + v[14..16].parse::<i64>().unwrap() * 60
            + v[17..19].parse::<i64>().unwrap();
        // days from civil (Howard Hinnant's algorithm)
        let y = if m <= 2 { y - 1 } else { y };
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let doy = (153 * ((m + 9) % 12) + 2) / 5 + d - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        (era * 146_097 + doe - 719_468) * 86_400 + secs
    };
    let span = parse("notAfter=") - parse("notBefore=");
    assert_eq!(span % 86_400, 0, "validity is whole days: {dates}");
    span / 86_400
}

#[test]
fn generated_certificates_parse_and_verify_against_their_ca() {
    if !openssl_available() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let pems = cert_and_key(
        r#"{{ $ca := genCA "test-ca" 365 }}{{ $ca.Cert }}|{{ $ca.Key }}#{{ $c := genSignedCert "svc.example" (list "10.1.2.3" "::1") (list "svc.example" "*.svc.example") 30 $ca }}{{ $c.Cert }}|{{ $c.Key }}#{{ $s := genSelfSignedCert "self" (list "192.168.0.1") nil 7 }}{{ $s.Cert }}|{{ $s.Key }}#"#,
    );
    let [(ca, ca_key), (leaf, leaf_key), (selfc, self_key)] = &pems[..] else {
        panic!("three pairs: {pems:?}");
    };
    let ca = write(tmp.path(), "ca.pem", ca);
    let leaf = write(tmp.path(), "leaf.pem", leaf);
    let selfc = write(tmp.path(), "self.pem", selfc);
    for (name, key) in [
        ("ca.key", ca_key),
        ("leaf.key", leaf_key),
        ("self.key", self_key),
    ] {
        assert!(
            key.starts_with("-----BEGIN RSA PRIVATE KEY-----\n"),
            "{key}"
        );
        let path = write(tmp.path(), name, key);
        let text = openssl(&["rsa", "-in", path.to_str().unwrap(), "-noout", "-text"]);
        assert!(text.contains("Private-Key: (2048 bit"), "{text}");
        openssl(&["rsa", "-in", path.to_str().unwrap(), "-check", "-noout"]);
    }
    // The chain verifies, for TLS servers and clients.
    for purpose in ["sslserver", "sslclient"] {
        let ok = openssl(&[
            "verify",
            "-x509_strict",
            "-purpose",
            purpose,
            "-CAfile",
            ca.to_str().unwrap(),
            leaf.to_str().unwrap(),
        ]);
        assert!(ok.trim_end().ends_with(": OK"), "{ok}");
    }
    let ok = openssl(&[
        "verify",
        "-CAfile",
        selfc.to_str().unwrap(),
        selfc.to_str().unwrap(),
    ]);
    assert!(ok.trim_end().ends_with(": OK"), "{ok}");
    // A certificate does not verify against another CA.
    let other = cert_and_key(r#"{{ $o := genCA "other" 1 }}{{ $o.Cert }}|{{ $o.Key }}#"#);
    let other = write(tmp.path(), "other.pem", &other[0].0);
    let out = Command::new("openssl")
        .args([
            "verify",
            "-CAfile",
            other.to_str().unwrap(),
            leaf.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());

    assert_eq!(validity_days(&ca), 365);
    assert_eq!(validity_days(&leaf), 30);
    assert_eq!(validity_days(&selfc), 7);

    let text = openssl(&["x509", "-in", leaf.to_str().unwrap(), "-noout", "-text"]);
    assert!(
        text.contains("Subject: CN = svc.example") || text.contains("Subject: CN=svc.example"),
        "{text}"
    );
    assert!(
        text.contains("Issuer: CN = test-ca") || text.contains("Issuer: CN=test-ca"),
        "{text}"
    );
    assert!(
        text.contains(
            "DNS:svc.example, DNS:*.svc.example, IP Address:10.1.2.3, IP Address:0:0:0:0:0:0:0:1"
        ),
        "{text}"
    );
    assert!(text.contains("TLS Web Server Authentication, TLS Web Client Authentication"));
    assert!(
        text.contains("Digital Signature, Key Encipherment"),
        "{text}"
    );
    assert!(text.contains("CA:FALSE"), "{text}");
    assert!(text.contains("Signature Algorithm: sha256WithRSAEncryption"));
    assert!(text.contains("X509v3 Authority Key Identifier"), "{text}");
    let ca_text = openssl(&["x509", "-in", ca.to_str().unwrap(), "-noout", "-text"]);
    assert!(ca_text.contains("CA:TRUE"), "{ca_text}");
    assert!(ca_text.contains("Certificate Sign"), "{ca_text}");
    assert!(
        ca_text.contains("X509v3 Subject Key Identifier"),
        "{ca_text}"
    );
    // The key is the certificate's.
    let modulus = |args: &[&str]| openssl(args);
    assert_eq!(
        modulus(&["x509", "-in", leaf.to_str().unwrap(), "-noout", "-modulus"]),
        modulus(&[
            "rsa",
            "-in",
            tmp.path().join("leaf.key").to_str().unwrap(),
            "-noout",
            "-modulus"
        ])
    );
}

#[test]
fn certificates_with_given_keys_use_them() {
    if !openssl_available() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let pems = cert_and_key(
        r#"{{ $k := genPrivateKey "ecdsa" }}{{ $ca := genCAWithKey "ec-ca" 10 $k }}{{ $ca.Cert }}|{{ $ca.Key }}#{{ $e := genPrivateKey "ed25519" }}{{ $c := genSignedCertWithKey "ed-leaf" nil (list "leaf") 2 $ca $e }}{{ $c.Cert }}|{{ $c.Key }}#{{ $r := genPrivateKey "rsa" }}{{ $s := genSelfSignedCertWithKey "rsa-self" nil nil 3 $r }}{{ $s.Cert }}|{{ $s.Key }}#"#,
    );
    let [(ca, ca_key), (leaf, leaf_key), (selfc, self_key)] = &pems[..] else {
        panic!("three pairs: {pems:?}");
    };
    assert!(ca_key.starts_with("-----BEGIN EC PRIVATE KEY-----\n"));
    assert!(leaf_key.starts_with("-----BEGIN PRIVATE KEY-----\n"));
    assert!(self_key.starts_with("-----BEGIN RSA PRIVATE KEY-----\n"));
    let ca_key_path = write(tmp.path(), "ca.key", ca_key);
    let ec = openssl(&[
        "ec",
        "-in",
        ca_key_path.to_str().unwrap(),
        "-noout",
        "-text",
    ]);
    assert!(ec.contains("prime256v1"), "{ec}");
    let leaf_key_path = write(tmp.path(), "leaf.key", leaf_key);
    let ed = openssl(&[
        "pkey",
        "-in",
        leaf_key_path.to_str().unwrap(),
        "-noout",
        "-text",
    ]);
    assert!(ed.contains("ED25519 Private-Key"), "{ed}");
    let self_key_path = write(tmp.path(), "self.key", self_key);
    let rsa = openssl(&[
        "rsa",
        "-in",
        self_key_path.to_str().unwrap(),
        "-noout",
        "-text",
    ]);
    assert!(rsa.contains("Private-Key: (4096 bit"), "{rsa}");

    let ca = write(tmp.path(), "ca.pem", ca);
    let leaf = write(tmp.path(), "leaf.pem", leaf);
    let selfc = write(tmp.path(), "self.pem", selfc);
    let ok = openssl(&[
        "verify",
        "-x509_strict",
        "-CAfile",
        ca.to_str().unwrap(),
        leaf.to_str().unwrap(),
    ]);
    assert!(ok.trim_end().ends_with(": OK"), "{ok}");
    let ok = openssl(&[
        "verify",
        "-CAfile",
        selfc.to_str().unwrap(),
        selfc.to_str().unwrap(),
    ]);
    assert!(ok.trim_end().ends_with(": OK"), "{ok}");
    let ca_text = openssl(&["x509", "-in", ca.to_str().unwrap(), "-noout", "-text"]);
    assert!(ca_text.contains("ecdsa-with-SHA256"), "{ca_text}");
    let leaf_text = openssl(&["x509", "-in", leaf.to_str().unwrap(), "-noout", "-text"]);
    assert!(leaf_text.contains("ED25519"), "{leaf_text}");
    assert!(leaf_text.contains("DNS:leaf"), "{leaf_text}");
    assert_eq!(validity_days(&leaf), 2);
    // The public keys are the given keys'.
    let pubkey = |args: &[&str]| openssl(args);
    assert_eq!(
        pubkey(&["x509", "-in", leaf.to_str().unwrap(), "-noout", "-pubkey"]),
        pubkey(&["pkey", "-in", leaf_key_path.to_str().unwrap(), "-pubout"])
    );
    assert_eq!(
        pubkey(&["x509", "-in", ca.to_str().unwrap(), "-noout", "-pubkey"]),
        pubkey(&["pkey", "-in", ca_key_path.to_str().unwrap(), "-pubout"])
    );
}

#[test]
fn generated_private_keys_parse() {
    if !openssl_available() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    for (kind, header, check) in [
        ("rsa", "RSA PRIVATE KEY", "Private-Key: (4096 bit"),
        ("ecdsa", "EC PRIVATE KEY", "prime256v1"),
        ("ed25519", "PRIVATE KEY", "ED25519 Private-Key"),
    ] {
        let pem = render(&format!("{{{{ genPrivateKey {kind:?} }}}}"));
        assert!(
            pem.starts_with(&format!("-----BEGIN {header}-----\n")),
            "{pem}"
        );
        assert!(pem.ends_with(&format!("-----END {header}-----\n")), "{pem}");
        assert!(
            pem.lines().all(|l| l.len() <= 64),
            "Go's 64-column lines: {pem}"
        );
        let path = write(tmp.path(), &format!("{kind}.pem"), &pem);
        let text = openssl(&["pkey", "-in", path.to_str().unwrap(), "-noout", "-text"]);
        assert!(text.contains(check), "{kind}: {text}");
    }
    assert_eq!(render(r#"{{ genPrivateKey "nope" }}"#), "Unknown type nope");
    assert!(render_err(r#"{{ genPrivateKey "dsa" }}"#).contains("dsa keys are not supported"));
}

#[test]
fn htpasswd_and_bcrypt_verify() {
    let line = render(r#"{{ htpasswd "admin" "s3cret pass" }}"#);
    let (user, hash) = line.split_once(':').unwrap();
    assert_eq!(user, "admin");
    assert!(hash.starts_with("$2a$10$"), "{hash}");
    assert!(bcrypt::verify("s3cret pass", hash).unwrap());
    assert!(!bcrypt::verify("other", hash).unwrap());
    let hash = render(r#"{{ bcrypt "pw" }}"#);
    assert!(hash.starts_with("$2a$10$") && hash.len() == 60, "{hash}");
    assert!(bcrypt::verify("pw", &hash).unwrap());
    assert_eq!(
        render(r#"{{ htpasswd "a:b" "pw" }}"#),
        "invalid username: a:b"
    );
}

#[test]
fn decrypt_aes_reads_what_helm_encrypted() {
    let Some(bin) = gitops_testenv::require_helm() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let chart = tmp.path().join("aes");
    std::fs::create_dir_all(chart.join("templates")).unwrap();
    std::fs::write(
        chart.join("Chart.yaml"),
        "apiVersion: v2\nname: aes\nversion: 0.1.0\n",
    )
    .unwrap();
    std::fs::write(
        chart.join("templates/a.yaml"),
        "a: {{ encryptAES \"k3y\" \"hello, world\" | quote }}\nb: {{ encryptAES \"a password longer than thirty-two bytes!\" \"0123456789abcdef\" | quote }}\n",
    )
    .unwrap();
    let out = Command::new(bin)
        .args(["template", "r"])
        .arg(&chart)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let field = |name: &str| {
        let line = stdout
            .lines()
            .find(|l| l.starts_with(&format!("{name}: ")))
            .unwrap();
        line[name.len() + 2..].trim_matches('"').to_string()
    };
    assert_eq!(
        render(&format!("{{{{ decryptAES \"k3y\" {:?} }}}}", field("a"))),
        "hello, world"
    );
    assert_eq!(
        render(&format!(
            "{{{{ decryptAES \"a password longer than thirty-two bytes!\" {:?} }}}}",
            field("b")
        )),
        "0123456789abcdef"
    );
    // and ours round-trips
    assert_eq!(
        render(r#"{{ encryptAES "pw" "text" | decryptAES "pw" }}"#),
        "text"
    );
}
