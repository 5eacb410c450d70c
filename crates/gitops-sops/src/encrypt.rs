//! Encryption to age recipients, producing files the `sops` binary decrypts.

use std::path::Path;

use aes_gcm::aead::{OsRng, rand_core::RngCore};
use zeroize::Zeroizing;

use crate::engine::{self, FORMAT_VERSION};
use crate::format::{Format, dotenv, ini, json, yaml};
use crate::keys::{self, wrap_data_key};
use crate::metadata::{AgeKey, KeyGroup, Metadata, Rule, flatten};
use crate::shamir;
use crate::tree::{Branches, Entry, Key, Value};

/// Errors from [`encrypt`](crate::encrypt). None carries plaintext.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No recipient was given.
    #[error("no age recipients to encrypt {path} for")]
    NoRecipients {
        /// The file.
        path: String,
    },
    /// A recipient does not parse.
    #[error(transparent)]
    Recipient(#[from] keys::Error),
    /// The Shamir threshold does not fit the key groups.
    #[error("shamir threshold {threshold} is invalid for {groups} key groups (need 2..={groups})")]
    Threshold {
        /// The requested threshold.
        threshold: usize,
        /// The number of key groups.
        groups: usize,
    },
    /// The input is not valid in its format.
    #[error("{path}: cannot read the plaintext as {format}: {reason}")]
    Parse {
        /// The file.
        path: String,
        /// The format name.
        format: &'static str,
        /// What is wrong (a position, never content).
        reason: String,
    },
    /// The input is already a SOPS file.
    #[error("{path}: the file is already encrypted")]
    AlreadyEncrypted {
        /// The file.
        path: String,
    },
    /// More than one encryption rule was set.
    #[error("only one of encrypted/unencrypted suffix/regex/comment regex may be set")]
    Rules,
    /// Walking the tree failed (an invalid regex).
    #[error("{path}: cannot encrypt")]
    Walk {
        /// The file.
        path: String,
        /// The cause.
        #[source]
        source: gitops_core::decrypt::Error,
    },
    /// The plaintext cannot be written in its format (for example a nested value in dotenv).
    #[error("{path}: cannot write {format}: {reason}")]
    Emit {
        /// The file.
        path: String,
        /// The format name.
        format: &'static str,
        /// What is wrong.
        reason: String,
    },
}

/// What to encrypt for and how; see [`encrypt`](crate::encrypt).
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct EncryptOptions {
    /// Key groups of age recipients; a single group unless Shamir sharing is wanted.
    pub key_groups: Vec<Vec<String>>,
    /// How many groups are needed to decrypt (defaults to all groups).
    pub shamir_threshold: Option<usize>,
    /// Which values to encrypt (defaults to `unencrypted_suffix: _unencrypted`, as `sops`).
    pub rule: Option<EncryptionRule>,
    /// Cover only encrypted values with the MAC.
    pub mac_only_encrypted: bool,
    /// The format, instead of the one the path's extension picks.
    pub format: Option<Format>,
}

/// Which values are encrypted (`sops`' `--encrypted-regex` and friends).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum EncryptionRule {
    /// Keys ending with this suffix stay in clear text.
    UnencryptedSuffix(String),
    /// Only keys ending with this suffix are encrypted.
    EncryptedSuffix(String),
    /// Keys matching this regex stay in clear text.
    UnencryptedRegex(String),
    /// Only keys matching this regex are encrypted.
    EncryptedRegex(String),
    /// Values after a comment matching this regex stay in clear text.
    UnencryptedCommentRegex(String),
    /// Only values after a comment matching this regex are encrypted.
    EncryptedCommentRegex(String),
}

impl EncryptOptions {
    /// Encrypts for these age recipients (one key group).
    pub fn with_age_recipients<I, S>(mut self, recipients: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.key_groups = vec![recipients.into_iter().map(Into::into).collect()];
        self
    }

    /// Adds a key group (use several with [`EncryptOptions::with_shamir_threshold`]).
    pub fn with_key_group<I, S>(mut self, recipients: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.key_groups
            .push(recipients.into_iter().map(Into::into).collect());
        self
    }

    /// Sets the number of key groups needed to decrypt.
    pub fn with_shamir_threshold(mut self, threshold: usize) -> Self {
        self.shamir_threshold = Some(threshold);
        self
    }

    /// Sets which values are encrypted.
    pub fn with_rule(mut self, rule: EncryptionRule) -> Self {
        self.rule = Some(rule);
        self
    }

    /// Makes the MAC cover only the encrypted values.
    pub fn with_mac_only_encrypted(mut self, yes: bool) -> Self {
        self.mac_only_encrypted = yes;
        self
    }

    /// Overrides the format the path's extension picks.
    pub fn with_format(mut self, format: Format) -> Self {
        self.format = Some(format);
        self
    }
}

impl EncryptionRule {
    fn to_rule(&self) -> Rule {
        match self.clone() {
            EncryptionRule::UnencryptedSuffix(s) => Rule::UnencryptedSuffix(s),
            EncryptionRule::EncryptedSuffix(s) => Rule::EncryptedSuffix(s),
            EncryptionRule::UnencryptedRegex(s) => Rule::UnencryptedRegex(s),
            EncryptionRule::EncryptedRegex(s) => Rule::EncryptedRegex(s),
            EncryptionRule::UnencryptedCommentRegex(s) => Rule::UnencryptedCommentRegex(s),
            EncryptionRule::EncryptedCommentRegex(s) => Rule::EncryptedCommentRegex(s),
        }
    }
}

fn parse_error(path: &str, format: Format, reason: impl Into<String>) -> Error {
    Error::Parse {
        path: path.to_string(),
        format: format.name(),
        reason: reason.into(),
    }
}

pub(crate) fn encrypt(
    path: &Path,
    plaintext: &[u8],
    opts: &EncryptOptions,
) -> Result<Vec<u8>, Error> {
    let name = path.display().to_string();
    let format = opts.format.unwrap_or_else(|| Format::for_path(path));
    let groups: Vec<Vec<String>> = opts
        .key_groups
        .iter()
        .filter(|g| !g.is_empty())
        .cloned()
        .collect();
    if groups.is_empty() {
        return Err(Error::NoRecipients { path: name });
    }
    let parsed: Vec<Vec<age::x25519::Recipient>> = groups
        .iter()
        .map(|g| {
            g.iter()
                .map(|r| keys::parse_recipient(r))
                .collect::<Result<Vec<_>, _>>()
        })
        .collect::<Result<_, _>>()?;
    let threshold = if groups.len() > 1 {
        let t = opts.shamir_threshold.unwrap_or(groups.len());
        if t < 2 || t > groups.len() {
            return Err(Error::Threshold {
                threshold: t,
                groups: groups.len(),
            });
        }
        t
    } else {
        0
    };

    let mut branches = Branches(read_plain(&name, format, plaintext)?);
    if branches
        .0
        .iter()
        .any(|b| b.iter().any(|e| e.key_str() == Some("sops")))
        || (format == Format::Dotenv
            && branches.0.iter().any(|b| {
                b.iter()
                    .any(|e| e.key_str().is_some_and(|k| k.starts_with("sops_")))
            }))
    {
        return Err(Error::AlreadyEncrypted { path: name });
    }

    let mut key = Zeroizing::new([0u8; 32]);
    OsRng.fill_bytes(&mut key[..]);
    let parts: Vec<Zeroizing<Vec<u8>>> = if groups.len() == 1 {
        vec![Zeroizing::new(key.to_vec())]
    } else {
        shamir::split(&key[..], groups.len(), threshold)
    };
    let key_groups: Vec<KeyGroup> = groups
        .iter()
        .zip(&parsed)
        .zip(&parts)
        .map(|((names, recips), part)| KeyGroup {
            age: names
                .iter()
                .zip(recips)
                .map(|(n, r)| AgeKey {
                    recipient: n.trim().to_string(),
                    enc: wrap_data_key(r, part),
                })
                .collect(),
            others: Vec::new(),
        })
        .collect();

    let rule = opts.rule.as_ref().map_or_else(
        || Rule::UnencryptedSuffix("_unencrypted".into()),
        EncryptionRule::to_rule,
    );
    let mac =
        engine::encrypt_branches(&name, &mut branches.0, &rule, opts.mac_only_encrypted, &key)
            .map_err(|source| Error::Walk {
                path: name.clone(),
                source,
            })?;
    let last_modified = engine::now_rfc3339();
    let mut metadata = Metadata {
        key_groups,
        shamir_threshold: threshold,
        last_modified: last_modified.clone(),
        mac: String::new(),
        rule,
        mac_only_encrypted: opts.mac_only_encrypted,
        version: FORMAT_VERSION.to_string(),
    };
    metadata.mac = crate::cipher::encrypt_raw(mac.as_bytes(), "str", &key, &last_modified);
    emit_encrypted(&name, format, &mut branches, &metadata)
}

fn read_plain(name: &str, format: Format, plaintext: &[u8]) -> Result<Vec<Vec<Entry>>, Error> {
    let text =
        || std::str::from_utf8(plaintext).map_err(|_| parse_error(name, format, "not UTF-8"));
    Ok(match format {
        Format::Yaml => {
            let b = yaml::parse(text()?).map_err(|e| parse_error(name, format, e.to_string()))?;
            if b.is_empty() { vec![Vec::new()] } else { b }
        }
        Format::Json => vec![json::parse(plaintext).map_err(|e| parse_error(name, format, e))?],
        Format::Dotenv => vec![
            dotenv::parse(text()?)
                .map_err(|line| parse_error(name, format, format!("line {line} has no '='")))?,
        ],
        Format::Ini => vec![ini::parse(text()?).map_err(|line| {
            parse_error(name, format, format!("line {line} is not a key or section"))
        })?],
        Format::Binary => vec![vec![Entry::new(
            "data",
            match std::str::from_utf8(plaintext) {
                Ok(s) => Value::Str(s.to_string()),
                Err(_) => Value::Bytes(plaintext.to_vec()),
            },
        )]],
    })
}

fn emit_encrypted(
    name: &str,
    format: Format,
    branches: &mut Branches,
    md: &Metadata,
) -> Result<Vec<u8>, Error> {
    let md_value = md.to_value();
    let emit_err = |reason: String| Error::Emit {
        path: name.to_string(),
        format: format.name(),
        reason,
    };
    Ok(match format {
        Format::Yaml => {
            for b in branches.0.iter_mut() {
                b.push(Entry::new("sops", md_value.clone()));
            }
            yaml::emit(&branches.0, 0).into_bytes()
        }
        Format::Json | Format::Binary => {
            let b = &mut branches.0[0];
            b.push(Entry::new("sops", md_value));
            json::emit(b, 0).into_bytes()
        }
        Format::Dotenv => {
            let mut flat = Vec::new();
            flatten(&md_value, "sops_", &mut flat);
            flat.sort_by(|a, b| a.0.cmp(&b.0));
            let b = &mut branches.0[0];
            for (k, v) in flat {
                b.push(Entry::new(k, v));
            }
            dotenv::emit(b, 0)
                .map_err(|k| emit_err(format!("nested value under {k}")))?
                .into_bytes()
        }
        Format::Ini => {
            let mut flat = Vec::new();
            flatten(&md_value, "", &mut flat);
            flat.sort_by(|a, b| a.0.cmp(&b.0));
            let entries = flat
                .into_iter()
                .map(|(k, v)| {
                    let v = match v {
                        Value::Str(s) => Value::Str(s.replace('\n', "\\n")),
                        other => other,
                    };
                    Entry {
                        key: Key::Str(k),
                        value: v,
                    }
                })
                .collect();
            let b = &mut branches.0[0];
            b.push(Entry::new("sops", Value::Map(entries)));
            ini::emit(b, 0).map_err(emit_err)?.into_bytes()
        }
    })
}
