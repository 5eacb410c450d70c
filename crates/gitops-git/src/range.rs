//! Semver ranges for [`Reference::Semver`](crate::Reference::Semver).
//!
//! Flux's range syntax (the Go Masterminds rules, not Cargo's) is implemented once, in
//! [`gitops_core::image::policy::SemverRange`], and shared with the image policies; this module
//! adapts it to picking a tag.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

pub use gitops_core::image::policy::Error;
use gitops_core::image::policy::{SemverRange, parse_tag};
pub use semver::Version;

/// Parses a tag as a version the way Flux does: strict semver with an optional leading `v`.
pub fn parse_version(tag: &str) -> Option<Version> {
    parse_tag(tag)
}

/// A parsed range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Range(SemverRange);

impl Range {
    /// Parses a range.
    ///
    /// # Errors
    /// [`Error::InvalidRange`] when a part is not a constraint or an alternative is empty.
    pub fn parse(text: &str) -> Result<Self, Error> {
        text.parse().map(Self)
    }

    /// Whether `version` satisfies the range.
    pub fn matches(&self, version: &Version) -> bool {
        self.0.matches(version)
    }

    /// The highest version among `candidates` that satisfies the range, with its payload.
    pub fn best<'a, T>(
        &self,
        candidates: impl IntoIterator<Item = (&'a Version, T)>,
    ) -> Option<(&'a Version, T)> {
        candidates
            .into_iter()
            .filter(|(v, _)| self.matches(v))
            .fold(None, |best: Option<(&'a Version, T)>, (v, t)| match best {
                Some((b, bt)) if b.cmp_precedence(v) != Ordering::Less => Some((b, bt)),
                _ => Some((v, t)),
            })
    }

    /// The range as written.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

impl FromStr for Range {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self, Error> {
        Self::parse(text)
    }
}

impl fmt::Display for Range {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(range: &str, version: &str) -> bool {
        let r = Range::parse(range).expect("valid range");
        let v = parse_version(version).expect("valid version");
        r.matches(&v)
    }

    #[test]
    fn greater_or_equal() {
        assert!(ok(">=1.0.0", "1.0.0"));
        assert!(ok(">=1.0.0", "2.3.4"));
        assert!(!ok(">=1.0.0", "0.9.9"));
        assert!(
            !ok(">=1.0.0", "1.1.0-rc.1"),
            "pre-releases need a pre-release range"
        );
        assert!(ok(">= 1.0.0", "1.0.1"), "space after the operator");
    }

    #[test]
    fn tilde() {
        assert!(ok("~1.2", "1.2.0"));
        assert!(ok("~1.2", "1.2.9"));
        assert!(!ok("~1.2", "1.3.0"));
        assert!(!ok("~1.2", "1.1.9"));
        assert!(ok("~1.2.3", "1.2.4"));
        assert!(!ok("~1.2.3", "1.2.2"));
        assert!(ok("~1", "1.9.0"));
        assert!(!ok("~1", "2.0.0"));
    }

    #[test]
    fn caret() {
        assert!(ok("^1", "1.0.0"));
        assert!(ok("^1", "1.99.3"));
        assert!(!ok("^1", "2.0.0"));
        assert!(!ok("^1", "0.9.0"));
        assert!(ok("^0.2.3", "0.2.9"));
        assert!(!ok("^0.2.3", "0.3.0"));
        assert!(ok("^0.0.3", "0.0.3"));
        assert!(!ok("^0.0.3", "0.0.4"));
    }

    #[test]
    fn wildcards_and_partials() {
        assert!(ok("1.x", "1.0.0"));
        assert!(ok("1.x", "1.5.2"));
        assert!(!ok("1.x", "2.0.0"));
        assert!(ok("1.2", "1.2.7"), "a partial version is a wildcard");
        assert!(!ok("1.2", "1.3.0"));
        assert!(ok("1.2.x", "1.2.0"));
        assert!(ok("*", "3.1.4"));
        assert!(!ok("*", "3.1.4-beta"));
        assert!(ok(">1.2", "1.3.0"));
        assert!(!ok(">1.2", "1.2.9"), "`>1.2` excludes all of 1.2.x");
        assert!(ok("<=1.2", "1.2.9"));
        assert!(!ok("<=1.2", "1.3.0"));
        assert!(ok("!=1.2.x", "1.3.0"));
        assert!(!ok("!=1.2.x", "1.2.5"));
    }

    #[test]
    fn pre_releases() {
        assert!(ok(">=1.0.0-0", "1.0.0-rc.1"));
        assert!(ok(">=1.0.0-0", "2.0.0-alpha"));
        assert!(ok(">=1.0.0-0", "1.0.0"));
        assert!(!ok(">=1.0.0-0", "0.9.0-rc.1"));
        assert!(ok(">=1.0.0-rc.1", "1.0.0-rc.2"));
        assert!(!ok(">=1.0.0-rc.2", "1.0.0-rc.1"));
    }

    #[test]
    fn or_and_and() {
        assert!(ok("<1.0.0 || >=2.0.0", "0.5.0"));
        assert!(ok("<1.0.0 || >=2.0.0", "2.1.0"));
        assert!(!ok("<1.0.0 || >=2.0.0", "1.5.0"));
        assert!(ok(">=1.0.0, <2.0.0", "1.5.0"));
        assert!(!ok(">=1.0.0, <2.0.0", "2.0.0"));
        assert!(ok(">=1.0.0 <2.0.0", "1.9.9"));
        assert!(!ok(">=1.0.0 <2.0.0", "0.1.0"));
        assert!(ok("1.2 - 1.4.5", "1.4.5"));
        assert!(!ok("1.2 - 1.4.5", "1.4.6"));
    }

    #[test]
    fn v_prefixes() {
        assert!(ok(">=v1.0.0", "v1.2.0"));
        assert!(ok("^1", "v1.2.0"));
        assert_eq!(parse_version("v1.2.3"), Some(Version::new(1, 2, 3)));
        assert_eq!(parse_version("1.2"), None, "tags are parsed strictly");
        assert_eq!(parse_version("release-1.2.3"), None);
        assert_eq!(parse_version("V1.2.3"), None);
    }

    #[test]
    fn picks_the_highest_match() {
        let range = Range::parse("^1").expect("valid");
        let versions: Vec<(Version, &str)> =
            ["v1.0.0", "v1.4.0", "v2.0.0", "v1.10.0-rc.1", "1.3.0"]
                .iter()
                .map(|t| (parse_version(t).expect("valid"), *t))
                .collect();
        let best = range.best(versions.iter().map(|(v, t)| (v, *t)));
        assert_eq!(best.map(|(_, t)| t), Some("v1.4.0"));
    }

    #[test]
    fn rejects_garbage() {
        assert!(Range::parse("").is_err());
        assert!(Range::parse(">=1.0.0 ||").is_err());
        assert!(Range::parse(">=abc").is_err());
        assert!(Range::parse("1.2.3.4").is_err());
    }
}
