//! Revisions, digests and artifacts: what a [`Source`](crate::Source) hands to the rest of a pass.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use sha2::{Digest as _, Sha256};

/// Errors from parsing a revision or a digest.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The digest algorithm is not one we know.
    #[error("unknown digest algorithm {algorithm:?} in {input:?}")]
    UnknownAlgorithm {
        /// The algorithm named.
        algorithm: String,
        /// The whole input.
        input: String,
    },
    /// The hex part has the wrong length or characters.
    #[error("invalid {algorithm} digest {input:?}: expected {expected} lowercase hex digits")]
    InvalidHex {
        /// The algorithm named.
        algorithm: DigestAlgorithm,
        /// The whole input.
        input: String,
        /// How many hex digits the algorithm has.
        expected: usize,
    },
    /// The text has no digest at all.
    #[error("invalid revision {input:?}: expected <name>@<algorithm>:<hex> or <algorithm>:<hex>")]
    Malformed {
        /// The whole input.
        input: String,
    },
}

/// A digest algorithm used in revisions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum DigestAlgorithm {
    /// Git's object ids.
    Sha1,
    /// Content digests of artifacts and OCI manifests.
    Sha256,
}

impl DigestAlgorithm {
    /// The name used in revisions.
    pub fn name(self) -> &'static str {
        match self {
            Self::Sha1 => "sha1",
            Self::Sha256 => "sha256",
        }
    }

    fn hex_len(self) -> usize {
        match self {
            Self::Sha1 => 40,
            Self::Sha256 => 64,
        }
    }
}

impl fmt::Display for DigestAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A digest `<algorithm>:<lowercase hex>`, validated.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest {
    algorithm: DigestAlgorithm,
    hex: String,
}

impl Digest {
    /// Builds a digest from an algorithm and hex digits (upper case is folded).
    pub fn new(algorithm: DigestAlgorithm, hex: &str) -> Result<Self, Error> {
        let hex = hex.to_ascii_lowercase();
        if hex.len() != algorithm.hex_len() || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(Error::InvalidHex {
                algorithm,
                input: hex,
                expected: algorithm.hex_len(),
            });
        }
        Ok(Self { algorithm, hex })
    }

    /// The SHA-256 digest of some bytes.
    pub fn sha256(bytes: &[u8]) -> Self {
        Self {
            algorithm: DigestAlgorithm::Sha256,
            hex: hex::encode(Sha256::digest(bytes)),
        }
    }

    /// The algorithm.
    pub fn algorithm(&self) -> DigestAlgorithm {
        self.algorithm
    }

    /// The lowercase hex digits.
    pub fn hex(&self) -> &str {
        &self.hex
    }

    /// The first `n` hex digits, for display.
    pub fn short(&self, n: usize) -> &str {
        &self.hex[..n.min(self.hex.len())]
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.algorithm, self.hex)
    }
}

impl FromStr for Digest {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        let (algorithm, hex) = s.split_once(':').ok_or_else(|| Error::Malformed {
            input: s.to_owned(),
        })?;
        let algorithm = match algorithm {
            "sha1" => DigestAlgorithm::Sha1,
            "sha256" => DigestAlgorithm::Sha256,
            other => {
                return Err(Error::UnknownAlgorithm {
                    algorithm: other.to_owned(),
                    input: s.to_owned(),
                });
            }
        };
        Self::new(algorithm, hex)
    }
}

/// A source revision in Flux's format: `main@sha1:<hex>`, `v1.2.0@sha1:<hex>`, `sha1:<hex>`,
/// `sha256:<hex>`.
///
/// Parsing also accepts Flux's legacy `main/<40 hex>` form and converts it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Revision {
    reference: Option<String>,
    digest: Digest,
}

impl Revision {
    /// A revision of a named reference (branch or tag).
    pub fn named(reference: impl Into<String>, digest: Digest) -> Self {
        let reference = reference.into();
        Self {
            reference: (!reference.is_empty()).then_some(reference),
            digest,
        }
    }

    /// A revision with no reference name (a bare commit, a content digest).
    pub fn digest_only(digest: Digest) -> Self {
        Self {
            reference: None,
            digest,
        }
    }

    /// The branch or tag name, if any.
    pub fn reference(&self) -> Option<&str> {
        self.reference.as_deref()
    }

    /// The digest.
    pub fn digest(&self) -> &Digest {
        &self.digest
    }

    /// A short form for people: `main@sha1:0123abcd`.
    pub fn short(&self) -> String {
        match &self.reference {
            Some(r) => format!("{r}@{}:{}", self.digest.algorithm, self.digest.short(8)),
            None => format!("{}:{}", self.digest.algorithm, self.digest.short(8)),
        }
    }
}

impl fmt::Display for Revision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.reference {
            Some(r) => write!(f, "{r}@{}", self.digest),
            None => write!(f, "{}", self.digest),
        }
    }
}

impl FromStr for Revision {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        if let Some((reference, digest)) = s.rsplit_once('@') {
            return Ok(Self::named(reference, digest.parse()?));
        }
        if s.contains(':') {
            return Ok(Self::digest_only(s.parse()?));
        }
        // Flux v1 wrote `main/<sha1>`; the branch may itself contain slashes.
        if let Some((reference, hex)) = s.rsplit_once('/') {
            if hex.len() == 40 {
                return Ok(Self::named(
                    reference,
                    Digest::new(DigestAlgorithm::Sha1, hex)?,
                ));
            }
        }
        Err(Error::Malformed {
            input: s.to_owned(),
        })
    }
}

impl serde::Serialize for Revision {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Revision {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// A fetched tree: a directory on disk, the revision it was taken from and a digest of its content.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Artifact {
    /// The directory holding the tree (no `.git`).
    pub path: PathBuf,
    /// Where the tree came from.
    pub revision: Revision,
    /// A digest of the tree's content, see [`ContentHasher`].
    pub digest: Digest,
    /// The first line of the commit message, when the source has commits (Flux names the
    /// commit by it in its `NewArtifact` event).
    pub subject: Option<String>,
}

/// Computes a tree's content digest from its files, fed in any order.
///
/// The digest covers each file's relative path (with `/` separators) and bytes, so the same tree
/// has the same digest wherever it is checked out and whatever order a backend walks it in.
#[derive(Default)]
pub struct ContentHasher {
    files: Vec<(String, [u8; 32])>,
}

impl ContentHasher {
    /// An empty hasher.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one file.
    pub fn add_file(&mut self, relative_path: &str, content: &[u8]) {
        self.files
            .push((relative_path.to_owned(), Sha256::digest(content).into()));
    }

    /// The digest of all files added.
    pub fn finish(mut self) -> Digest {
        self.files.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let mut tree = Sha256::new();
        for (path, file_digest) in &self.files {
            tree.update((path.len() as u64).to_le_bytes());
            tree.update(path.as_bytes());
            tree.update(file_digest);
        }
        Digest {
            algorithm: DigestAlgorithm::Sha256,
            hex: hex::encode(tree.finalize()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA: &str = "0123456789abcdef0123456789abcdef01234567";

    #[test]
    fn formats_like_flux() {
        let digest = Digest::new(DigestAlgorithm::Sha1, SHA).unwrap();
        assert_eq!(
            Revision::named("main", digest.clone()).to_string(),
            format!("main@sha1:{SHA}")
        );
        assert_eq!(
            Revision::named("v1.2.0", digest.clone()).to_string(),
            format!("v1.2.0@sha1:{SHA}")
        );
        assert_eq!(
            Revision::digest_only(digest.clone()).to_string(),
            format!("sha1:{SHA}")
        );
        assert_eq!(
            Revision::named("main", digest).short(),
            "main@sha1:01234567"
        );
    }

    #[test]
    fn parses_every_form_and_round_trips() {
        for text in [
            format!("main@sha1:{SHA}"),
            format!("feature/x@sha1:{SHA}"),
            format!("sha1:{SHA}"),
            format!("sha256:{SHA}{}", &SHA[..24]),
        ] {
            let rev: Revision = text.parse().unwrap();
            assert_eq!(rev.to_string(), text);
        }
        let legacy: Revision = format!("release/1.x/{SHA}").parse().unwrap();
        assert_eq!(legacy.reference(), Some("release/1.x"));
        assert_eq!(legacy.to_string(), format!("release/1.x@sha1:{SHA}"));
        let upper: Revision = format!("main@sha1:{}", SHA.to_uppercase()).parse().unwrap();
        assert_eq!(upper.digest().hex(), SHA);
    }

    #[test]
    fn rejects_bad_revisions() {
        assert!(matches!(
            "main@sha1:abc".parse::<Revision>(),
            Err(Error::InvalidHex { expected: 40, .. })
        ));
        assert!(matches!(
            format!("main@md5:{SHA}").parse::<Revision>(),
            Err(Error::UnknownAlgorithm { .. })
        ));
        assert!(matches!(
            "main".parse::<Revision>(),
            Err(Error::Malformed { .. })
        ));
        assert!(
            format!("main@sha1:{}", &SHA.replace('0', "g"))
                .parse::<Revision>()
                .is_err()
        );
    }

    #[test]
    fn content_digest_ignores_walk_order_but_not_paths_or_bytes() {
        let mut a = ContentHasher::new();
        a.add_file("x/a.yaml", b"1");
        a.add_file("b.yaml", b"2");
        let mut b = ContentHasher::new();
        b.add_file("b.yaml", b"2");
        b.add_file("x/a.yaml", b"1");
        let (a, b) = (a.finish(), b.finish());
        assert_eq!(a, b);
        let mut renamed = ContentHasher::new();
        renamed.add_file("b.yaml", b"2");
        renamed.add_file("x/c.yaml", b"1");
        assert_ne!(renamed.finish(), a);
        let mut changed = ContentHasher::new();
        changed.add_file("b.yaml", b"3");
        changed.add_file("x/a.yaml", b"1");
        assert_ne!(changed.finish(), a);
    }

    #[test]
    fn serde_uses_the_display_form() {
        let rev: Revision = format!("main@sha1:{SHA}").parse().unwrap();
        let json = serde_json::to_string(&rev).unwrap();
        assert_eq!(json, format!("\"main@sha1:{SHA}\""));
        assert_eq!(serde_json::from_str::<Revision>(&json).unwrap(), rev);
    }
}
