//! Loading, decrypting, verifying and encrypting whole documents.

use std::time::{SystemTime, UNIX_EPOCH};

use gitops_core::decrypt::Error;
use regex::Regex;
use sha2::{Digest, Sha512};
use zeroize::Zeroizing;

use crate::cipher::{self, CipherError};
use crate::format::{Format, dotenv, ini, json, yaml};
use crate::keys::{KeyCache, Keyring, UnwrapError};
use crate::metadata::{self, Metadata, MetadataError, OTHER_KEY_TYPES, Rule};
use crate::shamir;
use crate::tree::{Branches, Comment, Entry, Key, Value, mac_bytes};

/// The prefix `sops` hashes first when only encrypted values are covered by the MAC.
const MAC_ONLY_ENCRYPTED_INIT: [u8; 32] = [
    0x8a, 0x3f, 0xd2, 0xad, 0x54, 0xce, 0x66, 0x52, 0x7b, 0x10, 0x34, 0xf3, 0xd1, 0x47, 0xbe, 0x0b,
    0x0b, 0x97, 0x5b, 0x3b, 0xf4, 0x4f, 0x72, 0xc6, 0xfd, 0xad, 0xec, 0x81, 0x76, 0xf2, 0x7d, 0x69,
];

/// What the `sops` version field says for files written here (the format we follow).
pub(crate) const FORMAT_VERSION: &str = "3.11.0";

/// A detail attached as the source of a [`Error::Malformed`]; never holds plaintext.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct Detail(pub String);

pub(crate) fn malformed(path: &str, detail: impl Into<String>) -> Error {
    Error::Malformed {
        path: path.to_string(),
        source: Box::new(Detail(detail.into())),
    }
}

/// A parsed encrypted file.
pub(crate) struct Loaded {
    pub format: Format,
    pub branches: Branches,
    pub metadata: Metadata,
}

fn quick_reject(content: &[u8]) -> bool {
    // Every SOPS file names its metadata: `sops` (YAML/JSON/INI) or `sops_` (dotenv).
    memfind(content, b"sops").is_none()
}

fn memfind(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn take_metadata(branches: &mut [Vec<Entry>]) -> Option<Value> {
    let mut found = None;
    for (i, branch) in branches.iter_mut().enumerate() {
        if let Some(pos) = branch.iter().position(|e| e.key_str() == Some("sops")) {
            let e = branch.remove(pos);
            if i == 0 {
                found = Some(e.value);
            }
        }
    }
    found
}

fn metadata_error(path: &str, e: MetadataError) -> Error {
    malformed(path, e.to_string())
}

/// Reads an encrypted file; `Ok(None)` when it is not a SOPS file.
pub(crate) fn load(path: &str, format: Format, content: &[u8]) -> Result<Option<Loaded>, Error> {
    if quick_reject(content) {
        return Ok(None);
    }
    let (mut branches, md_value) = match format {
        Format::Yaml => {
            let Ok(text) = std::str::from_utf8(content) else {
                return Ok(None);
            };
            let mut branches = match yaml::parse(text) {
                Ok(b) => b,
                Err(e) => {
                    if text.contains("\nsops:") || text.starts_with("sops:") {
                        return Err(malformed(path, format!("invalid YAML: {e}")));
                    }
                    return Ok(None);
                }
            };
            let md = take_metadata(&mut branches);
            (branches, md)
        }
        Format::Json | Format::Binary => {
            let Ok(entries) = json::parse(content) else {
                return Ok(None);
            };
            let mut branches = vec![entries];
            let md = take_metadata(&mut branches);
            (branches, md)
        }
        Format::Dotenv => {
            let Ok(text) = std::str::from_utf8(content) else {
                return Ok(None);
            };
            let Ok(entries) = dotenv::parse(text) else {
                return Ok(None);
            };
            let (md, rest): (Vec<Entry>, Vec<Entry>) = entries
                .into_iter()
                .partition(|e| e.key_str().is_some_and(|k| k.starts_with("sops_")));
            let md = if md.is_empty() {
                None
            } else {
                Some(
                    metadata::unflatten(
                        md.into_iter()
                            .filter_map(|e| match e.key {
                                Key::Str(k) => Some((k["sops_".len()..].to_string(), e.value)),
                                Key::Comment(_) => None,
                            })
                            .collect(),
                    )
                    .map_err(|e| malformed(path, e))?,
                )
            };
            (vec![rest], md)
        }
        Format::Ini => {
            let Ok(text) = std::str::from_utf8(content) else {
                return Ok(None);
            };
            let Ok(sections) = ini::parse(text) else {
                return Ok(None);
            };
            let mut branches = vec![sections];
            let md = take_metadata(&mut branches).map(|v| match v {
                Value::Map(entries) => metadata::unflatten(
                    entries
                        .into_iter()
                        .filter_map(|e| match (e.key, e.value) {
                            (Key::Str(k), Value::Str(s)) => {
                                Some((k, Value::Str(s.replace("\\n", "\n"))))
                            }
                            (Key::Str(k), v) => Some((k, v)),
                            _ => None,
                        })
                        .collect(),
                ),
                other => Ok(other),
            });
            let md = md.transpose().map_err(|e| malformed(path, e))?;
            (branches, md)
        }
    };
    let Some(md_value) = md_value else {
        let mut b = Branches(Vec::new());
        std::mem::swap(&mut b.0, &mut branches);
        return Ok(None);
    };
    // A `sops` key that is not SOPS metadata (no mac, no version) is someone else's data.
    if md_value.get("mac").is_none() && md_value.get("version").is_none() {
        let _wipe = Branches(branches);
        return Ok(None);
    }
    let metadata = Metadata::from_value(&md_value).map_err(|e| metadata_error(path, e))?;
    Ok(Some(Loaded {
        format,
        branches: Branches(branches),
        metadata,
    }))
}

/// Recovers the data key from the key groups.
pub(crate) fn data_key(
    path: &str,
    md: &Metadata,
    keyring: &Keyring,
    cache: Option<&KeyCache>,
) -> Result<Zeroizing<[u8; 32]>, Error> {
    let mut parts: Vec<Zeroizing<Vec<u8>>> = Vec::new();
    let mut malformed_reason = None;
    for group in &md.key_groups {
        for key in &group.age {
            if let Some(part) = cache.and_then(|c| c.get(&key.enc)) {
                parts.push(part);
                break;
            }
            match keyring.unwrap_data_key(&key.enc) {
                Ok(part) => {
                    if let Some(c) = cache {
                        c.insert(&key.enc, &part);
                    }
                    parts.push(part);
                    break;
                }
                Err(UnwrapError::NoMatch) => {}
                Err(UnwrapError::Malformed(reason)) => {
                    malformed_reason = Some(format!(
                        "the data key encrypted for {} cannot be read: {reason}",
                        key.recipient
                    ));
                }
            }
        }
    }
    let groups = md.key_groups.len();
    let needed = if groups == 1 {
        1
    } else if md.shamir_threshold == 0 {
        groups
    } else {
        md.shamir_threshold
    };
    if parts.len() < needed {
        if let Some(reason) = malformed_reason {
            return Err(malformed(path, reason));
        }
        let recipients: Vec<String> = md
            .key_groups
            .iter()
            .flat_map(|g| g.age.iter().map(|k| k.recipient.clone()))
            .collect();
        let others = md
            .key_groups
            .iter()
            .flat_map(|g| g.others.iter().map(|(kind, id)| format!("{kind}:{id}")));
        if !recipients.is_empty() {
            return Err(Error::MissingKey {
                path: path.to_string(),
                recipients: recipients.into_iter().chain(others).collect(),
            });
        }
        let mut found: Vec<&str> = Vec::new();
        for g in &md.key_groups {
            for (kind, _) in &g.others {
                let label = OTHER_KEY_TYPES
                    .iter()
                    .find(|(k, _)| k == kind)
                    .map_or(*kind, |(_, l)| *l);
                if !found.contains(&label) {
                    found.push(label);
                }
            }
        }
        return Err(Error::Unsupported {
            path: path.to_string(),
            what: format!("{} keys", found.join(" and ")),
            supported: "age keys".into(),
        });
    }
    let key = if groups == 1 {
        parts.swap_remove(0)
    } else {
        shamir::combine(&parts)
            .map_err(|e| malformed(path, format!("cannot combine key parts: {e}")))?
    };
    if key.len() != 32 {
        return Err(malformed(path, "the data key is not 32 bytes"));
    }
    let mut out = Zeroizing::new([0u8; 32]);
    out.copy_from_slice(&key);
    Ok(out)
}

/// The encryption rule with its regex compiled once.
pub(crate) struct Rules {
    rule: Rule,
    regex: Option<Regex>,
}

impl Rules {
    pub fn new(path: &str, rule: &Rule) -> Result<Self, Error> {
        let regex = match rule {
            Rule::UnencryptedRegex(r)
            | Rule::EncryptedRegex(r)
            | Rule::UnencryptedCommentRegex(r)
            | Rule::EncryptedCommentRegex(r) => Some(
                Regex::new(r)
                    .map_err(|e| malformed(path, format!("invalid {}: {e}", rule.key())))?,
            ),
            _ => None,
        };
        Ok(Self {
            rule: rule.clone(),
            regex,
        })
    }

    /// `sops`' `shouldBeEncrypted`.
    fn should_encrypt(&self, path: &[String], stack: &[Vec<String>], is_comment: bool) -> bool {
        match (&self.rule, &self.regex) {
            (Rule::UnencryptedSuffix(s), _) => !path.iter().any(|p| p.ends_with(s.as_str())),
            (Rule::EncryptedSuffix(s), _) => path.iter().any(|p| p.ends_with(s.as_str())),
            (Rule::UnencryptedRegex(_), Some(re)) => !path.iter().any(|p| re.is_match(p)),
            (Rule::EncryptedRegex(_), Some(re)) => path.iter().any(|p| re.is_match(p)),
            (Rule::UnencryptedCommentRegex(_), Some(re)) => {
                !stack.iter().flatten().any(|c| re.is_match(c))
            }
            (Rule::EncryptedCommentRegex(_), Some(re)) => {
                let last_level = stack.len().saturating_sub(1);
                let last_len = stack.last().map_or(0, Vec::len);
                stack.iter().enumerate().any(|(i, cs)| {
                    cs.iter().enumerate().any(|(j, c)| {
                        !(is_comment && i == last_level && j + 1 == last_len) && re.is_match(c)
                    })
                })
            }
            _ => true,
        }
    }

    fn needs_comments(&self) -> bool {
        matches!(
            self.rule,
            Rule::UnencryptedCommentRegex(_) | Rule::EncryptedCommentRegex(_)
        )
    }
}

/// Walks the tree like `sops`' `walkBranch`, calling `leaf` for scalars and comments.
struct Walker<'r, F> {
    rules: &'r Rules,
    path: Vec<String>,
    stack: Vec<Vec<String>>,
    leaf: F,
}

impl<F> Walker<'_, F>
where
    F: FnMut(&mut Value, &[String], bool) -> Result<(), Error>,
{
    fn map(&mut self, entries: &mut [Entry]) -> Result<(), Error> {
        let track = self.rules.needs_comments();
        self.stack.push(Vec::new());
        for e in entries.iter_mut() {
            if let Key::Comment(c) = &mut e.key {
                if track {
                    self.stack
                        .last_mut()
                        .expect("pushed above")
                        .push(c.text.clone());
                }
                let inline = c.inline;
                let mut v = Value::Comment(std::mem::replace(
                    c,
                    Comment {
                        text: String::new(),
                        inline,
                    },
                ));
                let enc = self.rules.should_encrypt(&self.path, &self.stack, true);
                (self.leaf)(&mut v, &self.path, enc)?;
                *c = match v {
                    Value::Comment(done) => done,
                    Value::Str(text) => Comment { text, inline },
                    _ => Comment {
                        text: String::new(),
                        inline,
                    },
                };
                continue;
            }
            let value_is_comment = matches!(e.value, Value::Comment(_));
            if track {
                if let Value::Comment(c) = &e.value {
                    self.stack
                        .last_mut()
                        .expect("pushed above")
                        .push(c.text.clone());
                }
            }
            let Key::Str(k) = &e.key else {
                unreachable!("comments handled above")
            };
            self.path.push(k.clone());
            let r = self.value(&mut e.value);
            self.path.pop();
            r?;
            if !value_is_comment && track {
                self.stack.last_mut().expect("pushed above").clear();
            }
        }
        self.stack.pop();
        Ok(())
    }

    fn seq(&mut self, items: &mut [Value]) -> Result<(), Error> {
        let track = self.rules.needs_comments();
        self.stack.push(Vec::new());
        for item in items.iter_mut() {
            let is_comment = matches!(item, Value::Comment(_));
            if let (Value::Comment(c), true) = (&*item, track) {
                self.stack
                    .last_mut()
                    .expect("pushed above")
                    .push(c.text.clone());
            }
            self.value(item)?;
            if !is_comment && track {
                self.stack.last_mut().expect("pushed above").clear();
            }
        }
        self.stack.pop();
        Ok(())
    }

    fn value(&mut self, v: &mut Value) -> Result<(), Error> {
        match v {
            Value::Map(entries) => self.map(entries),
            Value::Seq(items) => self.seq(items),
            Value::Null => Ok(()),
            _ => {
                let is_comment = matches!(v, Value::Comment(_));
                let enc = self
                    .rules
                    .should_encrypt(&self.path, &self.stack, is_comment);
                (self.leaf)(v, &self.path, enc)
            }
        }
    }
}

fn aad(path: &[String]) -> String {
    let mut s = String::with_capacity(path.iter().map(|p| p.len() + 1).sum::<usize>() + 1);
    for p in path {
        s.push_str(p);
        s.push(':');
    }
    if path.is_empty() {
        s.push(':');
    }
    s
}

fn cipher_error(path: &str, value_path: &[String], e: CipherError) -> Error {
    match e {
        CipherError::Auth => Error::Integrity {
            path: path.to_string(),
        },
        other => malformed(path, format!("value at {}: {other}", value_path.join("."))),
    }
}

/// Decrypts every value in place and verifies the MAC.
pub(crate) fn decrypt(
    path: &str,
    loaded: &mut Loaded,
    keyring: &Keyring,
    cache: Option<&KeyCache>,
) -> Result<(), Error> {
    let key = data_key(path, &loaded.metadata, keyring, cache)?;
    let md = &loaded.metadata;
    let rules = Rules::new(path, &md.rule)?;
    let mut hasher = Sha512::new();
    if md.mac_only_encrypted {
        hasher.update(MAC_ONLY_ENCRYPTED_INIT);
    }
    let mac_only = md.mac_only_encrypted;
    {
        let mut walker = Walker {
            rules: &rules,
            path: Vec::new(),
            stack: Vec::new(),
            leaf: |v: &mut Value, vpath: &[String], encrypted: bool| -> Result<(), Error> {
                let is_comment = matches!(v, Value::Comment(_));
                if encrypted {
                    let ad = aad(vpath);
                    match v {
                        Value::Comment(c) => {
                            // Comments that do not decrypt are kept as they are, like sops does.
                            if let Ok(plain) = cipher::decrypt(&c.text, &key, &ad) {
                                *v = match plain {
                                    Value::Comment(done) => Value::Comment(done),
                                    Value::Str(text) => Value::Comment(Comment {
                                        text,
                                        inline: false,
                                    }),
                                    _ => return Ok(()),
                                };
                            }
                        }
                        Value::Str(s) => {
                            *v = cipher::decrypt(s, &key, &ad)
                                .map_err(|e| cipher_error(path, vpath, e))?;
                        }
                        _ => {
                            return Err(malformed(
                                path,
                                format!(
                                    "value at {} should be encrypted but is not a string",
                                    vpath.join(".")
                                ),
                            ));
                        }
                    }
                }
                // A comment that sops wrote as a sequence item (an inline comment) decrypts to a
                // comment and, as in sops, stays out of the MAC.
                if (!mac_only || encrypted) && !is_comment && !matches!(v, Value::Comment(_)) {
                    mac_bytes(v, &mut |b| hasher.update(b));
                }
                Ok(())
            },
        };
        for branch in loaded.branches.0.iter_mut() {
            walker.map(branch)?;
        }
    }
    let computed = hex::encode_upper(hasher.finalize());
    let stored =
        cipher::decrypt(&md.mac, &key, &md.mac_additional_data()).map_err(|e| match e {
            CipherError::Auth => Error::Integrity {
                path: path.to_string(),
            },
            other => malformed(path, format!("mac: {other}")),
        })?;
    match stored {
        Value::Str(s) if s == computed => Ok(()),
        _ => Err(Error::Integrity {
            path: path.to_string(),
        }),
    }
}

/// Room for the plaintext of an encrypted file of `len` bytes: escapes can at most double a
/// value, and the ciphertext is always longer than its plaintext.
pub(crate) fn plain_capacity(len: usize) -> usize {
    len.saturating_mul(2).saturating_add(4096)
}

/// Emits decrypted branches in the file's format.
pub(crate) fn emit_plain(path: &str, loaded: &Loaded, capacity: usize) -> Result<Vec<u8>, Error> {
    let b = &loaded.branches.0;
    Ok(match loaded.format {
        Format::Yaml => yaml::emit(b, capacity).into_bytes(),
        Format::Json => json::emit(b.first().map_or(&[][..], Vec::as_slice), capacity).into_bytes(),
        Format::Dotenv => dotenv::emit(b.first().map_or(&[][..], Vec::as_slice), capacity)
            .map_err(|k| {
                malformed(
                    path,
                    format!("complex value under key {k} in a dotenv file"),
                )
            })?
            .into_bytes(),
        Format::Ini => ini::emit(b.first().map_or(&[][..], Vec::as_slice), capacity)
            .map_err(|r| malformed(path, r))?
            .into_bytes(),
        Format::Binary => {
            match b
                .first()
                .and_then(|e| e.iter().find(|e| e.key_str() == Some("data")))
            {
                Some(Entry {
                    value: Value::Str(s),
                    ..
                }) => s.as_bytes().to_vec(),
                Some(Entry {
                    value: Value::Bytes(bytes),
                    ..
                }) => bytes.clone(),
                _ => return Err(malformed(path, "binary file without a data value")),
            }
        }
    })
}

// ---------------------------------------------------------------------------------------------
// Encryption

/// RFC 3339 UTC timestamp of now, seconds precision.
pub(crate) fn now_rfc3339() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs()) as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

/// Encrypts branches in place with `key`, returning the MAC (upper-case hex).
pub(crate) fn encrypt_branches(
    path: &str,
    branches: &mut [Vec<Entry>],
    rule: &Rule,
    mac_only: bool,
    key: &[u8; 32],
) -> Result<String, Error> {
    let rules = Rules::new(path, rule)?;
    let mut hasher = Sha512::new();
    if mac_only {
        hasher.update(MAC_ONLY_ENCRYPTED_INIT);
    }
    let mut walker = Walker {
        rules: &rules,
        path: Vec::new(),
        stack: Vec::new(),
        leaf: |v: &mut Value, vpath: &[String], encrypted: bool| -> Result<(), Error> {
            let is_comment = matches!(v, Value::Comment(_));
            if (!mac_only || encrypted) && !is_comment {
                mac_bytes(v, &mut |b| hasher.update(b));
            }
            if encrypted {
                let ad = aad(vpath);
                let enc = cipher::encrypt(v, key, &ad).unwrap_or_default();
                // Like sops, an encrypted comment becomes a string: the mapping walk turns it back
                // into a comment, a sequence keeps it as an item.
                v.wipe();
                *v = Value::Str(enc);
            }
            Ok(())
        },
    };
    for branch in branches.iter_mut() {
        walker.map(branch)?;
    }
    Ok(hex::encode_upper(hasher.finalize()))
}
