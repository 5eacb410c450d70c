//! SOPS for gitops-rs: decrypt and encrypt files in the format of the `sops` 3.x binary, with
//! age keys, natively in Rust.
//!
//! - [`SopsDecryptor`] is the [`gitops_core::Decryptor`] a reconcile pass uses: it decrypts SOPS
//!   files a renderer reads (`secretGenerator` inputs) and rendered `Secret` objects that carry
//!   `sops` metadata, as Flux's kustomize-controller does.
//! - [`decrypt`] and [`encrypt`] are the functions a command-line tool needs
//!   (`gitops sops decrypt FILE`, `gitops sops encrypt --age R1,R2 FILE`).
//! - [`Keyring`] holds age identities: from a key file or string in the `SOPS_AGE_KEY_FILE`
//!   format, from the pair of values `sops` reads from its environment, or from the
//!   `*.agekey` entries of a Kubernetes `Secret`.
//!
//! Formats are chosen by extension as `sops` does: `.yaml`/`.yml`, `.json`, `.env` (dotenv),
//! `.ini`, and anything else as binary. Decrypted YAML, JSON, dotenv and INI are byte-for-byte
//! what `sops -d` prints: YAML in go-yaml v3's style with an indentation of 4, and comments
//! attached by go-yaml's head/foot rules, down to the comments `sops` itself cannot decrypt
//! (which it prints still encrypted, and so does this crate). Values are AES-256-GCM encrypted and bound to their path; the MAC over all
//! values is verified before anything is returned; key groups with a Shamir threshold work.
//! Only age keys are supported: files that name only PGP, KMS, Vault or other keys get an
//! [`Unsupported`](gitops_core::decrypt::Error::Unsupported) error.
//!
//! Plaintext is returned in [`SecretBytes`] (redacted `Debug`, zeroized on drop); errors name
//! files, key paths and recipients, never values.
//!
//! # Example
//! ```
//! use std::path::Path;
//! use gitops_sops::{EncryptOptions, Keyring};
//!
//! // A key as `age-keygen` writes it (this one is for the example only).
//! let identity = "# created: 2026-01-01T00:00:00Z\n\
//!     AGE-SECRET-KEY-1GFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPQ4EGAEX\n";
//! let keys = Keyring::from_identity_file("example", identity)?;
//! let recipient = keys.recipients()[0].clone();
//!
//! let plain = b"password: hunter2\nuser_unencrypted: admin\n";
//! let opts = EncryptOptions::default().with_age_recipients([recipient]);
//! let encrypted = gitops_sops::encrypt(Path::new("secret.yaml"), plain, &opts)?;
//! assert!(String::from_utf8_lossy(&encrypted).contains("ENC[AES256_GCM,"));
//!
//! let decrypted = gitops_sops::decrypt(Path::new("secret.yaml"), &encrypted, &keys)?;
//! assert_eq!(decrypted.expose(), b"password: hunter2\nuser_unencrypted: admin\n");
//!
//! // In a reconciler: the same keys as a Decryptor.
//! use gitops_core::Decryptor;
//! let decryptor = gitops_sops::SopsDecryptor::new(keys);
//! assert!(decryptor.decrypt_file(Path::new("plain.yaml"), b"a: b\n")?.is_none());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! For the command line, read the environment in the binary and hand the values over:
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let file = std::env::var("SOPS_AGE_KEY_FILE").ok().map(std::fs::read_to_string).transpose()?;
//! let key = std::env::var("SOPS_AGE_KEY").ok();
//! let keys = gitops_sops::Keyring::from_env_like(file.as_deref(), key.as_deref())?;
//! let path = std::path::Path::new("secret.enc.yaml");
//! let plain = gitops_sops::decrypt(path, &std::fs::read(path)?, &keys)?;
//! std::io::Write::write_all(&mut std::io::stdout(), plain.expose())?;
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]

mod cipher;
mod decryptor;
pub mod encrypt;
mod engine;
mod format;
pub mod keys;
mod metadata;
mod shamir;
mod tree;

use std::path::Path;

pub use decryptor::SopsDecryptor;
pub use encrypt::{EncryptOptions, EncryptionRule};
pub use format::Format;
pub use gitops_core::SecretBytes;
pub use gitops_core::decrypt::Error as DecryptError;
pub use keys::Keyring;

/// Decrypts a SOPS file; the format comes from the extension, as for `sops -d`.
///
/// # Errors
/// [`DecryptError::Malformed`] for a file that is not a SOPS file (no `sops` metadata) or is
/// damaged, [`DecryptError::MissingKey`] naming the recipients when no key fits,
/// [`DecryptError::Integrity`] when a value or the MAC was altered,
/// [`DecryptError::Unsupported`] for non-age keys.
pub fn decrypt(path: &Path, content: &[u8], keys: &Keyring) -> Result<SecretBytes, DecryptError> {
    decrypt_as(path, Format::for_path(path), content, keys)
}

/// Decrypts a SOPS file in an explicit format (`sops -d --input-type`).
///
/// # Errors
/// As [`decrypt`].
pub fn decrypt_as(
    path: &Path,
    format: Format,
    content: &[u8],
    keys: &Keyring,
) -> Result<SecretBytes, DecryptError> {
    let name = path.display().to_string();
    let Some(mut loaded) = engine::load(&name, format, content)? else {
        return Err(engine::malformed(
            &name,
            format!(
                "not a SOPS file: no sops metadata found (read as {})",
                format.name()
            ),
        ));
    };
    engine::decrypt(&name, &mut loaded, keys, None)?;
    engine::emit_plain(&name, &loaded, engine::plain_capacity(content.len())).map(SecretBytes::new)
}

/// Whether content is a SOPS file in the format its path implies.
pub fn is_encrypted(path: &Path, content: &[u8]) -> bool {
    let name = path.display().to_string();
    matches!(
        engine::load(&name, Format::for_path(path), content),
        Ok(Some(_)) | Err(_)
    )
}

/// Encrypts plaintext for age recipients; the result decrypts with `sops -d`.
///
/// # Errors
/// See [`encrypt::Error`]: no or invalid recipients, a bad threshold, plaintext that does not
/// parse in its format, or a file that is already encrypted.
pub fn encrypt(
    path: &Path,
    plaintext: &[u8],
    options: &EncryptOptions,
) -> Result<Vec<u8>, encrypt::Error> {
    encrypt::encrypt(path, plaintext, options)
}
