//! Age keys: identities that unwrap data keys, parsed from key files, strings and `Secret` data.

use std::fmt;
use std::io::{Read, Write};
use std::str::FromStr;

use age::armor::{ArmoredReader, ArmoredWriter, Format};
use zeroize::Zeroizing;

/// Errors from reading keys. They name the origin and line, never key material.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A line of a key file is not an age identity.
    #[error("{origin}:{line}: not an age secret key (expected AGE-SECRET-KEY-1…)")]
    InvalidIdentity {
        /// Where the keys came from.
        origin: String,
        /// 1-based line number.
        line: usize,
    },
    /// An age recipient (public key) does not parse.
    #[error("invalid age recipient {recipient:?}")]
    InvalidRecipient {
        /// The recipient as given (public information).
        recipient: String,
    },
    /// A `Secret`'s `.agekey` entry is not valid base64 or UTF-8.
    #[error("{origin}: entry {entry:?} is not base64-encoded UTF-8 text")]
    Encoding {
        /// The Secret.
        origin: String,
        /// The data key.
        entry: String,
    },
}

/// A set of age identities (private keys). `Debug` prints only the public recipients.
///
/// Build it from an identity file ([`Keyring::from_identity_file`]), from the environment-style
/// pair `sops` reads ([`Keyring::from_env_like`]), or from a Kubernetes `Secret`'s data
/// ([`Keyring::from_secret_data`]). Key material is zeroized when the keyring is dropped (the
/// `age` identities zeroize their scalars themselves).
#[derive(Clone, Default)]
pub struct Keyring {
    identities: Vec<age::x25519::Identity>,
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keyring")
            .field("recipients", &self.recipients())
            .finish()
    }
}

impl Keyring {
    /// An empty keyring.
    pub fn new() -> Self {
        Self::default()
    }

    /// Parses identities in the `SOPS_AGE_KEY_FILE` / `age-keygen` format: one
    /// `AGE-SECRET-KEY-1…` per line, `#` comments and blank lines ignored. `origin` names the
    /// source in errors (a file name, `SOPS_AGE_KEY`).
    pub fn from_identity_file(origin: &str, text: &str) -> Result<Self, Error> {
        let mut ring = Self::new();
        ring.add_identity_file(origin, text)?;
        Ok(ring)
    }

    /// Adds the identities of a key file (see [`Keyring::from_identity_file`]).
    pub fn add_identity_file(&mut self, origin: &str, text: &str) -> Result<(), Error> {
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let id = age::x25519::Identity::from_str(line).map_err(|_| Error::InvalidIdentity {
                origin: origin.to_string(),
                line: n + 1,
            })?;
            self.identities.push(id);
        }
        Ok(())
    }

    /// Reads keys the way `sops` does from its environment: the contents of the file named by
    /// `SOPS_AGE_KEY_FILE` and the value of `SOPS_AGE_KEY` (both optional, both may hold several
    /// keys). The caller reads the environment; this crate never does.
    pub fn from_env_like(key_file: Option<&str>, key: Option<&str>) -> Result<Self, Error> {
        let mut ring = Self::new();
        if let Some(text) = key_file {
            ring.add_identity_file("SOPS_AGE_KEY_FILE", text)?;
        }
        if let Some(text) = key {
            ring.add_identity_file("SOPS_AGE_KEY", text)?;
        }
        Ok(ring)
    }

    /// Reads the keys of a Kubernetes `Secret` as Flux does: every data entry whose name ends
    /// in `.agekey` holds identities. `data` values are base64 (the `data` field); pass
    /// `stringData`-style plain values through [`Keyring::add_identity_file`] instead.
    pub fn from_secret_data<'a>(
        origin: &str,
        data: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, Error> {
        use base64::Engine;
        let mut ring = Self::new();
        for (name, value) in data {
            if !name.ends_with(".agekey") {
                continue;
            }
            let bytes = Zeroizing::new(
                base64::engine::general_purpose::STANDARD
                    .decode(value.trim())
                    .map_err(|_| Error::Encoding {
                        origin: origin.to_string(),
                        entry: name.to_string(),
                    })?,
            );
            let text = std::str::from_utf8(&bytes).map_err(|_| Error::Encoding {
                origin: origin.to_string(),
                entry: name.to_string(),
            })?;
            ring.add_identity_file(&format!("{origin}/{name}"), text)?;
        }
        Ok(ring)
    }

    /// Reads the keys of a `Secret` object (`data` entries ending in `.agekey`, base64, and
    /// `stringData` entries ending in `.agekey`, plain).
    pub fn from_secret_object(secret: &gitops_core::Object) -> Result<Self, Error> {
        let origin = secret.id().to_string();
        let value = secret.value();
        let data: Vec<(&str, &str)> = value
            .get("data")
            .and_then(|d| d.as_object())
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| v.as_str().map(|v| (k.as_str(), v)))
                    .collect()
            })
            .unwrap_or_default();
        let mut ring = Self::from_secret_data(&origin, data)?;
        if let Some(m) = value.get("stringData").and_then(|d| d.as_object()) {
            for (k, v) in m {
                if let (true, Some(v)) = (k.ends_with(".agekey"), v.as_str()) {
                    ring.add_identity_file(&format!("{origin}/{k}"), v)?;
                }
            }
        }
        Ok(ring)
    }

    /// Adds the identities of another keyring.
    pub fn extend(&mut self, other: Keyring) {
        self.identities.extend(other.identities);
    }

    /// The public recipients of the identities, in order.
    pub fn recipients(&self) -> Vec<String> {
        self.identities
            .iter()
            .map(|i| i.to_public().to_string())
            .collect()
    }

    /// The number of identities.
    pub fn len(&self) -> usize {
        self.identities.len()
    }

    /// Whether the keyring holds no identity.
    pub fn is_empty(&self) -> bool {
        self.identities.is_empty()
    }

    /// Tries every identity on an armored age file holding a data key (or a Shamir part).
    pub(crate) fn unwrap_data_key(&self, armored: &str) -> Result<Zeroizing<Vec<u8>>, UnwrapError> {
        if self.identities.is_empty() {
            return Err(UnwrapError::NoMatch);
        }
        let reader = ArmoredReader::new(armored.trim_start().as_bytes());
        let decryptor = age::Decryptor::new(reader).map_err(UnwrapError::from_age)?;
        let mut plain = Zeroizing::new(Vec::with_capacity(33));
        let mut stream = decryptor
            .decrypt(self.identities.iter().map(|i| i as &dyn age::Identity))
            .map_err(UnwrapError::from_age)?;
        stream
            .read_to_end(&mut plain)
            .map_err(|e| UnwrapError::Malformed(e.to_string()))?;
        Ok(plain)
    }
}

/// Why an age stanza could not be opened.
#[derive(Debug)]
pub(crate) enum UnwrapError {
    NoMatch,
    Malformed(String),
}

impl UnwrapError {
    fn from_age(e: age::DecryptError) -> Self {
        match e {
            age::DecryptError::NoMatchingKeys => Self::NoMatch,
            other => Self::Malformed(other.to_string()),
        }
    }
}

/// Parses an age recipient (`age1…`).
pub(crate) fn parse_recipient(r: &str) -> Result<age::x25519::Recipient, Error> {
    age::x25519::Recipient::from_str(r.trim()).map_err(|_| Error::InvalidRecipient {
        recipient: r.to_string(),
    })
}

/// Encrypts a data key (or Shamir part) to one recipient, armored, as `sops` stores it.
pub(crate) fn wrap_data_key(recipient: &age::x25519::Recipient, key: &[u8]) -> String {
    let encryptor =
        age::Encryptor::with_recipients(std::iter::once(recipient as &dyn age::Recipient))
            .expect("one recipient is always enough");
    let mut out = Vec::new();
    {
        let armor = ArmoredWriter::wrap_output(&mut out, Format::AsciiArmor)
            .expect("writing to memory cannot fail");
        let mut writer = encryptor
            .wrap_output(armor)
            .expect("writing to memory cannot fail");
        writer
            .write_all(key)
            .expect("writing to memory cannot fail");
        writer
            .finish()
            .and_then(|armor| armor.finish())
            .expect("writing to memory cannot fail");
    }
    let mut text = String::from_utf8(out).expect("armor is ASCII");
    if !text.ends_with('\n') {
        text.push('\n');
    }
    text
}

/// Data keys (or Shamir parts) already unwrapped, by the SHA-256 of their encrypted form.
///
/// Bounded: it is emptied when it reaches [`KeyCache::LIMIT`] entries. The values are zeroized
/// when dropped; `Debug` prints only the number of entries.
#[derive(Default)]
pub(crate) struct KeyCache {
    map: std::sync::Mutex<std::collections::HashMap<[u8; 32], Zeroizing<Vec<u8>>>>,
}

impl KeyCache {
    const LIMIT: usize = 10_000;

    fn id(enc: &str) -> [u8; 32] {
        use sha2::Digest;
        sha2::Sha256::digest(enc.trim().as_bytes()).into()
    }

    pub(crate) fn get(&self, enc: &str) -> Option<Zeroizing<Vec<u8>>> {
        let map = self.map.lock().ok()?;
        map.get(&Self::id(enc)).cloned()
    }

    pub(crate) fn insert(&self, enc: &str, part: &Zeroizing<Vec<u8>>) {
        if let Ok(mut map) = self.map.lock() {
            if map.len() >= Self::LIMIT {
                map.clear();
            }
            map.insert(Self::id(enc), part.clone());
        }
    }
}

impl fmt::Debug for KeyCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.map.lock().map(|m| m.len()).unwrap_or(0);
        write!(f, "KeyCache({n} data keys)")
    }
}
