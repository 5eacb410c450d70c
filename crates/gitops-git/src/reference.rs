//! Which revision of a repository to fetch.

use std::fmt;
use std::str::FromStr;

use crate::range::Range;

/// The reference a [`GitSource`](crate::GitSource) follows, like Flux's `spec.ref`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Reference {
    /// The tip of a branch (`main`, not `refs/heads/main`).
    Branch(String),
    /// A tag (`v1.0.0`); annotated tags are peeled to their commit.
    Tag(String),
    /// The highest tag that satisfies a semver range (Flux's syntax, see [`Range`]).
    Semver(Range),
    /// One commit, by its full 40-hex id.
    Commit(String),
    /// Any full reference name (`refs/heads/main`, `refs/pull/1/head`).
    RefName(String),
}

/// Errors from parsing a [`Reference`] in the `kind:value` form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// The text has no known `kind:` prefix.
    #[error(
        "invalid reference {input:?}: expected branch:NAME, tag:NAME, semver:RANGE, commit:SHA or name:refs/…"
    )]
    UnknownKind {
        /// The input.
        input: String,
    },
    /// The value after the prefix is empty or malformed.
    #[error("invalid reference {input:?}: {reason}")]
    InvalidValue {
        /// The input.
        input: String,
        /// What is wrong.
        reason: String,
    },
    /// The semver range does not parse.
    #[error("invalid reference {input:?}")]
    Range {
        /// The input.
        input: String,
        /// The cause.
        #[source]
        source: crate::range::Error,
    },
}

impl Reference {
    /// A branch reference.
    pub fn branch(name: impl Into<String>) -> Self {
        Self::Branch(name.into())
    }

    /// A tag reference.
    pub fn tag(name: impl Into<String>) -> Self {
        Self::Tag(name.into())
    }

    /// A semver range over tags.
    ///
    /// # Errors
    /// When the range does not parse.
    pub fn semver(range: &str) -> Result<Self, crate::range::Error> {
        Ok(Self::Semver(Range::parse(range)?))
    }

    /// An exact commit.
    pub fn commit(sha: impl Into<String>) -> Self {
        Self::Commit(sha.into().to_ascii_lowercase())
    }
}

impl Default for Reference {
    /// The `main` branch.
    fn default() -> Self {
        Self::Branch("main".to_owned())
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Branch(b) => write!(f, "branch:{b}"),
            Self::Tag(t) => write!(f, "tag:{t}"),
            Self::Semver(r) => write!(f, "semver:{r}"),
            Self::Commit(c) => write!(f, "commit:{c}"),
            Self::RefName(n) => write!(f, "name:{n}"),
        }
    }
}

fn valid_ref_part(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('-')
        && !name.starts_with('/')
        && !name.ends_with('/')
        && !name.ends_with(".lock")
        && !name.contains("..")
        && !name.contains("//")
        && !name.contains("@{")
        && !name
            .bytes()
            .any(|b| b.is_ascii_control() || b" ~^:?*[\\".contains(&b))
}

impl Reference {
    /// A reference of `kind` (`branch`, `tag`, `semver`, `commit` or `name`) naming `value`,
    /// checked as the `kind:value` text form is: what a host holding the two parts (Flux's
    /// `spec.ref` fields) builds without formatting them into text first.
    ///
    /// # Errors
    /// An unknown kind, or a value that is not valid for it.
    pub fn from_parts(kind: &str, value: &str) -> Result<Self, ParseError> {
        let input = || format!("{kind}:{value}");
        let invalid = |reason: &str| ParseError::InvalidValue {
            input: input(),
            reason: reason.to_owned(),
        };
        match kind {
            "branch" | "tag" => {
                if !valid_ref_part(value) {
                    return Err(invalid("not a valid branch or tag name"));
                }
                Ok(if kind == "branch" {
                    Self::Branch(value.to_owned())
                } else {
                    Self::Tag(value.to_owned())
                })
            }
            "semver" => Range::parse(value)
                .map(Self::Semver)
                .map_err(|source| ParseError::Range {
                    input: input(),
                    source,
                }),
            "commit" => {
                if value.len() != 40 || !value.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(invalid("a commit is 40 hex digits"));
                }
                Ok(Self::commit(value))
            }
            "name" => {
                if !value.starts_with("refs/") || !valid_ref_part(value) {
                    return Err(invalid("a reference name starts with refs/"));
                }
                Ok(Self::RefName(value.to_owned()))
            }
            _ => Err(ParseError::UnknownKind { input: input() }),
        }
    }
}

impl FromStr for Reference {
    type Err = ParseError;

    /// Parses `branch:main`, `tag:v1.0.0`, `semver:>=1.0.0`, `commit:<sha>` or `name:refs/…`.
    fn from_str(s: &str) -> Result<Self, ParseError> {
        let (kind, value) = s.split_once(':').ok_or_else(|| ParseError::UnknownKind {
            input: s.to_owned(),
        })?;
        Self::from_parts(kind, value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_cli_forms() {
        assert_eq!("branch:main".parse(), Ok(Reference::branch("main")));
        assert_eq!("tag:v1.0.0".parse(), Ok(Reference::tag("v1.0.0")));
        let sha = "0123456789ABCDEF0123456789abcdef01234567";
        assert_eq!(
            format!("commit:{sha}").parse(),
            Ok(Reference::commit(sha.to_ascii_lowercase()))
        );
        assert!(matches!(
            "semver:>=1.0.0".parse::<Reference>(),
            Ok(Reference::Semver(_))
        ));
        assert_eq!(
            "name:refs/pull/1/head".parse(),
            Ok(Reference::RefName("refs/pull/1/head".into()))
        );
        for text in ["branch:main", "tag:v1", "semver:~1.2", "name:refs/heads/x"] {
            assert_eq!(text.parse::<Reference>().expect("valid").to_string(), text);
        }
    }

    #[test]
    fn rejects_bad_forms() {
        for bad in [
            "main",
            "branch:",
            "branch:a..b",
            "branch:has space",
            "commit:abc",
            "semver:>=x.y.z.w",
            "name:heads/main",
            "bogus:main",
        ] {
            assert!(bad.parse::<Reference>().is_err(), "{bad}");
        }
    }
}
