//! Interoperability with the real `sops` binary, both directions, byte-compared with `sops -d`.

mod common;

use std::path::Path;

use common::{Env, Key, keyring, sops};
use gitops_sops::{DecryptError, EncryptOptions, EncryptionRule};

const YAML: &str = "\
# A secret for the web app
apiVersion: v1
kind: Secret
metadata:
  name: app # the name
  namespace: web
type: Opaque
stringData:
  # the database password
  password: hunter2
  token: \"0123\"
  multi: |
    line one
    line two
  quoted: \"yes\"
  colon: \"a: b\"
  empty: \"\"
  spaces: \"  padded \"
  unicode: \"héllo wörld\"
  tab: \"a\\tb\"
data:
  key: aHVudGVyMg==
numbers:
  int: 42
  float: 1.5
  bool: true
  nothing: null
  date: 2024-01-01
list:
  - a # first
  # before one
  - 1
  - k: v
    l: w
  - - nested
  - {}
  - []
plain_unencrypted: visible
# trailing comment
---
second: document
";

const JSON: &str = r#"{
  "name": "app",
  "password": "x<y>&z\n",
  "n": 1,
  "f": 2.5,
  "big": 1e21,
  "small": 1e-7,
  "b": false,
  "z": null,
  "list": [1, "two", {"three": 3}, []],
  "obj": {}
}
"#;

const DOTENV: &str = "# database\nDB_USER=admin\nDB_PASSWORD=hunter2\nMULTI=one\\ntwo\nEMPTY=\n";

const INI: &str = "; top comment\n[database]\nuser = admin\n; the password\npassword = hunter2\nlongerkey = x\n\n[cache]\nhost = localhost\n";

const BINARY: &[u8] = b"\x00\x01binary blob with\nnewlines\xff and bytes";

fn check_sops_to_ours(
    sops: &common::Sops,
    env: &Env,
    name: &str,
    content: &[u8],
    args: &[&str],
    keys: &[&Key],
) {
    let plain = env.write(name, content);
    let encrypted = sops.encrypt(env, &plain, args);
    let enc_name = format!("enc-{name}");
    let enc_path = env.write(&enc_name, &encrypted);
    let expected = sops
        .decrypt(env, keys, &enc_path)
        .expect("sops decrypts its own file");
    let ours = gitops_sops::decrypt(Path::new(&enc_name), &encrypted, &keyring(keys))
        .unwrap_or_else(|e| panic!("{name} {args:?}: {e:?}"));
    {
        assert_eq!(
            String::from_utf8_lossy(ours.expose()),
            String::from_utf8_lossy(&expected),
            "{name} {args:?}"
        );
        assert_eq!(ours.expose(), &expected[..], "{name} {args:?}");
    }
}

fn check_ours_to_sops(
    sops: &common::Sops,
    env: &Env,
    name: &str,
    content: &[u8],
    opts: &EncryptOptions,
    keys: &[&Key],
) {
    let encrypted = gitops_sops::encrypt(Path::new(name), content, opts).expect("we encrypt");
    let ours_path = env.write(&format!("ours-{name}"), &encrypted);
    let decrypted = sops
        .decrypt(env, keys, &ours_path)
        .unwrap_or_else(|e| panic!("sops cannot decrypt our {name}: {e}"));
    // The reference: sops' own round trip of the same plaintext.
    let plain = env.write(name, content);
    let theirs = sops.encrypt(env, &plain, &["--age", &keys[0].recipient]);
    let theirs_path = env.write(&format!("theirs-{name}"), &theirs);
    let expected = sops
        .decrypt(env, keys, &theirs_path)
        .expect("sops round trip");
    assert_eq!(
        String::from_utf8_lossy(&decrypted),
        String::from_utf8_lossy(&expected),
        "{name}"
    );
    // And we read our own file back to the same bytes.
    let again =
        gitops_sops::decrypt(Path::new(name), &encrypted, &keyring(keys)).expect("we decrypt ours");
    assert_eq!(again.expose(), &expected[..], "{name}");
}

#[test]
fn sops_files_decrypt_to_the_same_bytes_in_every_format() {
    let Some(sops) = sops() else { return };
    let env = Env::new();
    let k = env.key("k");
    let r = k.recipient.clone();
    for (name, content) in [
        ("secret.yaml", YAML.as_bytes()),
        ("secret.json", JSON.as_bytes()),
        ("secret.env", DOTENV.as_bytes()),
        ("secret.ini", INI.as_bytes()),
        ("secret.bin", BINARY),
    ] {
        check_sops_to_ours(&sops, &env, name, content, &["--age", &r], &[&k]);
    }
}

#[test]
fn sops_encryption_rules_are_honoured() {
    let Some(sops) = sops() else { return };
    let env = Env::new();
    let k = env.key("k");
    let r = k.recipient.as_str();
    let commented = "# sops:enc\npassword: hunter2\nuser: admin\n# sops:plain\nvisible: yes please\nnested:\n  # sops:enc\n  inner: secret\n  other: x\n";
    let cases: Vec<(&str, &str, Vec<&str>)> = vec![
        (
            "regex.yaml",
            YAML,
            vec!["--encrypted-regex", "^(data|stringData)$"],
        ),
        (
            "unregex.yaml",
            YAML,
            vec!["--unencrypted-regex", "^(apiVersion|kind|metadata)$"],
        ),
        (
            "suffix.yaml",
            "a_secret: 1\nb: 2\nc:\n  d_secret: x\n  e: y\n",
            vec!["--encrypted-suffix", "_secret"],
        ),
        (
            "unsuffix.yaml",
            "a_plain: 1\nb: 2\nc:\n  d: x\n",
            vec!["--unencrypted-suffix", "_plain"],
        ),
        ("regex.json", JSON, vec!["--encrypted-regex", "^password$"]),
        ("regex.env", DOTENV, vec!["--encrypted-regex", "PASSWORD"]),
    ];
    for (name, content, mut args) in cases {
        args.extend(["--age", r]);
        check_sops_to_ours(&sops, &env, name, content.as_bytes(), &args, &[&k]);
    }
    // The comment rules exist only in the configuration file.
    for rule in [
        "encrypted_comment_regex: sops:enc",
        "unencrypted_comment_regex: sops:plain",
        "encrypted_regex: ^(stringData|password)$\n    mac_only_encrypted: true",
    ] {
        let env = Env::new();
        let k = env.key("k");
        env.write(
            ".sops.yaml",
            format!("creation_rules:\n  - {rule}\n    age: {}\n", k.recipient),
        );
        check_sops_to_ours(
            &sops,
            &env,
            "comment.yaml",
            commented.as_bytes(),
            &[],
            &[&k],
        );
        check_sops_to_ours(&sops, &env, "comment2.yaml", YAML.as_bytes(), &[], &[&k]);
    }
}

#[test]
fn multiple_recipients_and_key_groups_with_threshold() {
    let Some(sops) = sops() else { return };
    let env = Env::new();
    let (a, b, c) = (env.key("a"), env.key("b"), env.key("c"));
    // Several recipients in one group: any key opens it.
    let both = format!("{},{}", a.recipient, b.recipient);
    check_sops_to_ours(
        &sops,
        &env,
        "multi.yaml",
        YAML.as_bytes(),
        &["--age", &both],
        &[&b],
    );

    // Three key groups, two needed.
    env.write(
        ".sops.yaml",
        format!(
            "creation_rules:\n  - shamir_threshold: 2\n    key_groups:\n      - age: [{}]\n      - age: [{}]\n      - age: [{}]\n",
            a.recipient, b.recipient, c.recipient
        ),
    );
    let plain = env.write("groups.yaml", YAML);
    let encrypted = sops.encrypt(&env, &plain, &[]);
    assert!(String::from_utf8_lossy(&encrypted).contains("shamir_threshold: 2"));
    let enc_path = env.write("enc-groups.yaml", &encrypted);
    let expected = sops
        .decrypt(&env, &[&a, &c], &enc_path)
        .expect("sops with 2 of 3");
    let ours = gitops_sops::decrypt(Path::new("groups.yaml"), &encrypted, &keyring(&[&a, &c]))
        .expect("2 of 3");
    assert_eq!(ours.expose(), &expected[..]);
    let ours = gitops_sops::decrypt(Path::new("groups.yaml"), &encrypted, &keyring(&[&c, &b]))
        .expect("other 2 of 3");
    assert_eq!(ours.expose(), &expected[..]);
    match gitops_sops::decrypt(Path::new("groups.yaml"), &encrypted, &keyring(&[&b])) {
        Err(DecryptError::MissingKey { recipients, .. }) => {
            assert_eq!(
                recipients,
                vec![
                    a.recipient.clone(),
                    b.recipient.clone(),
                    c.recipient.clone()
                ]
            );
        }
        other => panic!("one of three groups must not decrypt: {other:?}"),
    }
}

#[test]
fn our_files_decrypt_with_sops_in_every_format() {
    let Some(sops) = sops() else { return };
    let env = Env::new();
    let k = env.key("k");
    let opts = EncryptOptions::default().with_age_recipients([k.recipient.clone()]);
    for (name, content) in [
        ("secret.yaml", YAML.as_bytes()),
        ("secret.json", JSON.as_bytes()),
        ("secret.env", DOTENV.as_bytes()),
        ("secret.ini", INI.as_bytes()),
        ("secret.bin", BINARY),
    ] {
        check_ours_to_sops(&sops, &env, name, content, &opts, &[&k]);
    }
}

#[test]
fn our_rules_groups_and_recipients_work_with_sops() {
    let Some(sops) = sops() else { return };
    let env = Env::new();
    let (a, b, c) = (env.key("a"), env.key("b"), env.key("c"));
    let rules = [
        EncryptionRule::EncryptedRegex("^(data|stringData)$".into()),
        EncryptionRule::UnencryptedRegex("^kind$".into()),
        EncryptionRule::EncryptedSuffix("word".into()),
        EncryptionRule::UnencryptedSuffix("_unencrypted".into()),
        EncryptionRule::EncryptedCommentRegex("password".into()),
        EncryptionRule::UnencryptedCommentRegex("trailing".into()),
    ];
    for (i, rule) in rules.into_iter().enumerate() {
        for mac_only in [false, true] {
            let opts = EncryptOptions::default()
                .with_age_recipients([a.recipient.clone(), b.recipient.clone()])
                .with_rule(rule.clone())
                .with_mac_only_encrypted(mac_only);
            let name = format!("rule{i}-{mac_only}.yaml");
            let encrypted =
                gitops_sops::encrypt(Path::new(&name), YAML.as_bytes(), &opts).expect("encrypt");
            let p = env.write(&name, &encrypted);
            let theirs = sops
                .decrypt(&env, &[&b], &p)
                .unwrap_or_else(|e| panic!("{rule:?}: {e}"));
            let ours =
                gitops_sops::decrypt(Path::new(&name), &encrypted, &keyring(&[&b])).expect("ours");
            assert_eq!(ours.expose(), &theirs[..], "{rule:?}");
        }
    }
    // Key groups with a threshold.
    let opts = EncryptOptions::default()
        .with_key_group([a.recipient.clone()])
        .with_key_group([b.recipient.clone()])
        .with_key_group([c.recipient.clone()])
        .with_shamir_threshold(2);
    let encrypted =
        gitops_sops::encrypt(Path::new("g.yaml"), YAML.as_bytes(), &opts).expect("groups");
    let p = env.write("g.yaml", &encrypted);
    let theirs = sops
        .decrypt(&env, &[&a, &c], &p)
        .expect("sops, 2 of 3 groups");
    assert!(
        sops.decrypt(&env, &[&c], &p).is_err(),
        "1 of 3 groups must fail in sops"
    );
    let ours =
        gitops_sops::decrypt(Path::new("g.yaml"), &encrypted, &keyring(&[&b, &c])).expect("ours");
    assert_eq!(ours.expose(), &theirs[..]);
}

#[test]
fn rendered_secret_objects_decrypt_like_flux() {
    use gitops_core::Decryptor;
    let Some(sops) = sops() else { return };
    let env = Env::new();
    let k = env.key("k");
    let plain = env.write(
        "secret.yaml",
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\n  namespace: apps\nstringData:\n  password: hunter2\ndata:\n  token: aHVudGVyMg==\n",
    );
    let encrypted = sops.encrypt(
        &env,
        &plain,
        &[
            "--encrypted-regex",
            "^(data|stringData)$",
            "--age",
            &k.recipient,
        ],
    );
    let objects =
        gitops_core::object::parse_yaml("secret.yaml", &String::from_utf8_lossy(&encrypted))
            .expect("parse");
    let decryptor = gitops_sops::SopsDecryptor::new(keyring(&[&k]));
    let out = decryptor
        .decrypt_object(&objects[0])
        .expect("decrypt")
        .expect("it is encrypted");
    let v = out.value();
    assert!(v.get("sops").is_none());
    assert_eq!(v["stringData"]["password"], "hunter2");
    assert_eq!(v["data"]["token"], "aHVudGVyMg==");
    assert_eq!(v["metadata"]["name"], "db");
    // Keys from a Secret as Flux reads them (`*.agekey` entries).
    use base64::Engine;
    let key_secret = serde_json::json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "sops-age", "namespace": "flux-system"},
        "data": {"identity.agekey": base64::engine::general_purpose::STANDARD.encode(format!("# key\n{}\n", k.secret))}
    });
    let from_secret = gitops_sops::SopsDecryptor::from_secret(
        &gitops_core::Object::new(key_secret).expect("object"),
    )
    .expect("keys from secret");
    assert_eq!(
        from_secret.keyring().recipients(),
        vec![k.recipient.clone()]
    );
    assert!(
        from_secret
            .decrypt_object(&objects[0])
            .expect("decrypt")
            .is_some()
    );
    // Plain objects are left alone.
    let plain_obj = gitops_core::object::parse_yaml(
        "cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n",
    )
    .expect("parse");
    assert!(
        decryptor
            .decrypt_object(&plain_obj[0])
            .expect("ok")
            .is_none()
    );
    // Generator inputs: decrypt_file picks the format by extension.
    let env_file = sops.encrypt(
        &env,
        &env.write("app.env", DOTENV),
        &["--age", &k.recipient],
    );
    let got = decryptor
        .decrypt_file(Path::new("app.env"), &env_file)
        .expect("ok")
        .expect("encrypted");
    assert_eq!(got.expose(), DOTENV.as_bytes());
}

/// Scalars whose style or type go-yaml decides in a particular way.
const EDGE_YAML: &str = r##"a: ".5"
b: "1e3"
c: "0x10"
d: "+1"
e: "-"
f: "~"
g: "emoji 😀"
h: "cr\rhere"
i: "nel\u0085x"
j: "nbsp\u00a0x"
k: ":colon"
l: "- dash"
m: "? q"
n: "a:b"
o: "@at"
p: "%pct"
q: "back`tick"
r: "1:20"
s: "1_000"
t: "0b101"
u: "0o17"
v: "True"
w: "Off"
x: "12:30:45"
y: "2001-12-14t21:59:43.10-05:00"
z: "---"
aa: "..."
ab: "trailing\n"
ac: "\n"
ad: "a\n\nb\n\n\n"
ae: "  \n"
af: "x\ty\nz"
ag: ".inf"
ah: 1e3
ai: 0.000001
aj: 123456789.123
ak: -0.0
al: .nan
am: 2001-12-14t21:59:43.10-05:00
an: 2001-12-14 21:59:43.10
ao: 0x1F
ap: [a, {b: c}]
aq: !!str 123
ar: !!binary aGVsbG8=
"key with: colon": 1
"": empty key
"#k": v
? |
  multi
  key
: v
"##;

#[test]
fn edge_scalars_both_ways() {
    let Some(sops) = sops() else { return };
    let env = Env::new();
    let k = env.key("k");
    check_sops_to_ours(
        &sops,
        &env,
        "edge.yaml",
        EDGE_YAML.as_bytes(),
        &["--age", &k.recipient],
        &[&k],
    );
    let opts = EncryptOptions::default().with_age_recipients([k.recipient.clone()]);
    check_ours_to_sops(&sops, &env, "edge.yaml", EDGE_YAML.as_bytes(), &opts, &[&k]);
}

/// Nested sequences and mappings with block scalars: go-yaml's indentation rules.
const NESTED_YAML: &str = "\
top:
  a:
    b:
      - x
      - - y
        - z
        - |
          lit in nested seq
      - k: v
        lit: |
          multi
          line
        m:
          n: o
          deep:
            - 1
            - p: |-
                no newline
    c: 1
  d: 2
list:
  - p
  - q: r
    s:
      - t
last: 1
";

#[test]
fn nested_collections_both_ways() {
    let Some(sops) = sops() else { return };
    let env = Env::new();
    let k = env.key("k");
    check_sops_to_ours(
        &sops,
        &env,
        "nested.yaml",
        NESTED_YAML.as_bytes(),
        &["--age", &k.recipient],
        &[&k],
    );
    let opts = EncryptOptions::default().with_age_recipients([k.recipient.clone()]);
    check_ours_to_sops(
        &sops,
        &env,
        "nested.yaml",
        NESTED_YAML.as_bytes(),
        &opts,
        &[&k],
    );
}

/// A comment line put anywhere in an encrypted file (as people do by hand) lands where `sops -d`
/// prints it: go-yaml's head/foot comment rules.
#[test]
fn hand_written_comments_land_where_sops_puts_them() {
    let Some(sops) = sops() else { return };
    let env = Env::new();
    let k = env.key("k");
    let plain = env.write("n.yaml", "a:\n  b: 1\n  c:\n    - x\n    - y\nd:\n  e:\n    f: 1\n  g: 2\nh:\n  - i: 1\n    j: 2\n  - k\nl: 3\n");
    let encrypted =
        String::from_utf8(sops.encrypt(&env, &plain, &["--age", &k.recipient])).expect("utf-8");
    let lines: Vec<&str> = encrypted.lines().collect();
    let end = lines.iter().position(|l| *l == "sops:").expect("metadata");
    let keys = keyring(&[&k]);
    let mut cases = 0;
    for pos in 0..=end {
        for col in [0, 4, 8] {
            let mut edited: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
            edited.insert(pos, format!("{}# C", " ".repeat(col)));
            let text = edited.join("\n") + "\n";
            let p = env.write("commented.yaml", &text);
            let expected = sops.decrypt(&env, &[&k], &p).expect("sops");
            let ours = gitops_sops::decrypt(Path::new("commented.yaml"), text.as_bytes(), &keys)
                .expect("ours");
            assert_eq!(
                String::from_utf8_lossy(ours.expose()),
                String::from_utf8_lossy(&expected),
                "comment at line {pos}, column {col}"
            );
            cases += 1;
        }
    }
    assert!(cases > 40);
}
