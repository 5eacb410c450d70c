//! [`SopsDecryptor`]: the [`Decryptor`] backend for a render.

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use gitops_core::decrypt::Error;
use gitops_core::{Decryptor, Object, SecretBytes};

use crate::engine::{self, Loaded, malformed};
use crate::format::{Format, json};
use crate::keys::{KeyCache, Keyring};
use crate::metadata::Metadata;
use crate::tree::Branches;

/// Decrypts SOPS files and `Secret` objects with age keys.
///
/// Build it from a [`Keyring`]: [`SopsDecryptor::from_age_keys`] for a key string (one or more
/// `AGE-SECRET-KEY-1…` lines, the `SOPS_AGE_KEY_FILE` format), [`SopsDecryptor::from_secret`]
/// for a Kubernetes `Secret` (Flux's `sops-age` Secret with `*.agekey` entries).
///
/// # Guarantees
/// Plaintext is returned only in [`SecretBytes`] or in the returned object; errors name the
/// file or object, and recipients, never values. A file whose MAC does not match is an error.
///
/// Data keys it unwraps are remembered (in memory, zeroized on drop, keyed by a hash of the
/// encrypted data key) so that later passes over the same files skip the age decryption.
#[derive(Clone, Debug)]
pub struct SopsDecryptor {
    keys: Keyring,
    cache: Arc<KeyCache>,
}

impl SopsDecryptor {
    /// A decryptor with these keys.
    pub fn new(keys: Keyring) -> Self {
        Self {
            keys,
            cache: Arc::new(KeyCache::default()),
        }
    }

    /// A decryptor from age identities in the key-file format (comments allowed).
    pub fn from_age_keys(text: &str) -> Result<Self, Error> {
        Keyring::from_identity_file("age key", text)
            .map(Self::new)
            .map_err(|e| Error::Keys {
                origin: "age key".into(),
                source: Box::new(e),
            })
    }

    /// A decryptor from a `Secret` object's `*.agekey` entries (`data` or `stringData`).
    pub fn from_secret(secret: &Object) -> Result<Self, Error> {
        Keyring::from_secret_object(secret)
            .map(Self::new)
            .map_err(|e| Error::Keys {
                origin: secret.id().to_string(),
                source: Box::new(e),
            })
    }

    /// The keys.
    pub fn keyring(&self) -> &Keyring {
        &self.keys
    }

    /// Decrypts a file in an explicit format; `Ok(None)` when it is not a SOPS file.
    pub fn decrypt_as(
        &self,
        path: &Path,
        format: Format,
        content: &[u8],
    ) -> Result<Option<SecretBytes>, Error> {
        let name = path.display().to_string();
        let Some(mut loaded) = engine::load(&name, format, content)? else {
            return Ok(None);
        };
        engine::decrypt(&name, &mut loaded, &self.keys, Some(&self.cache))?;
        engine::emit_plain(&name, &loaded, engine::plain_capacity(content.len()))
            .map(|b| Some(SecretBytes::new(b)))
    }
}

#[async_trait]
impl Decryptor for SopsDecryptor {
    fn decrypt_file(&self, path: &Path, content: &[u8]) -> Result<Option<SecretBytes>, Error> {
        self.decrypt_as(path, Format::for_path(path), content)
    }

    fn decrypt_object(&self, object: &Object) -> Result<Option<Object>, Error> {
        let Some(map) = object.value().as_object() else {
            return Ok(None);
        };
        let Some(md_json) = map.get("sops") else {
            return Ok(None);
        };
        if md_json.get("mac").is_none() && md_json.get("version").is_none() {
            return Ok(None);
        }
        let name = object.id().to_string();
        let md_value = json::from_json(md_json.clone());
        let metadata =
            Metadata::from_value(&md_value).map_err(|e| malformed(&name, e.to_string()))?;
        let entries = map
            .iter()
            .filter(|(k, _)| k.as_str() != "sops")
            .map(|(k, v)| crate::tree::Entry::new(k.clone(), json::from_json(v.clone())))
            .collect();
        let mut loaded = Loaded {
            format: Format::Yaml,
            branches: Branches(vec![entries]),
            metadata,
        };
        engine::decrypt(&name, &mut loaded, &self.keys, Some(&self.cache))?;
        let value = json::entries_to_json(&loaded.branches.0[0]);
        Object::new(value)
            .map(Some)
            .map_err(|e| malformed(&name, format!("decrypted object is invalid: {e}")))
    }
}
