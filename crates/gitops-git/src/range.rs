//! Version ranges with Flux's semver syntax (the Masterminds `semver` v3 rules), on top of the
//! [`semver`] crate's [`Version`].
//!
//! This module depends on nothing else in the crate, so it can move to `gitops-core` for image
//! policies unchanged.
//!
//! # Syntax
//! - `||` separates alternatives; inside one, constraints separated by `,` or spaces must all hold.
//! - Operators: `=` (or none), `!=`, `>`, `<`, `>=` (`=>`), `<=` (`=<`), `~` (`~>`), `^`.
//! - Versions may start with `v` and may be partial or use wildcards (`x`, `X`, `*`): `1.2` and
//!   `1.2.x` both mean `>=1.2.0 <1.3.0` with `=`; `*` alone matches every release.
//! - Hyphen ranges: `1.2 - 1.4.5` means `>=1.2 <=1.4.5`.
//! - Pre-releases match only constraints that name a pre-release themselves (`>=1.0.0-0` matches
//!   `1.1.0-rc.1`; `>=1.0.0` does not).
//!
//! Tags are parsed strictly with [`parse_version`]: `MAJOR.MINOR.PATCH[-pre][+build]` with an
//! optional leading `v`, like Flux.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

pub use semver::Version;

/// Errors from parsing a range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The range is empty between `||`.
    #[error("invalid semver range {range:?}: empty alternative")]
    EmptyAlternative {
        /// The whole range.
        range: String,
    },
    /// A constraint could not be parsed.
    #[error("invalid semver range {range:?}: cannot parse {constraint:?}")]
    Constraint {
        /// The whole range.
        range: String,
        /// The part that failed.
        constraint: String,
    },
}

/// Parses a tag as a version the way Flux does: strict semver with an optional leading `v`.
pub fn parse_version(tag: &str) -> Option<Version> {
    let text = tag.strip_prefix('v').unwrap_or(tag);
    Version::parse(text).ok()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Eq,
    Ne,
    Gt,
    Lt,
    Ge,
    Le,
    Tilde,
    Caret,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Constraint {
    op: Op,
    version: Version,
    minor_dirty: bool,
    patch_dirty: bool,
    dirty: bool,
}

/// A parsed range: alternatives of conjunctions of constraints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Range {
    text: String,
    alternatives: Vec<Vec<Constraint>>,
}

impl Range {
    /// Parses a range.
    ///
    /// # Errors
    /// [`Error`] when a part is not a constraint.
    pub fn parse(text: &str) -> Result<Self, Error> {
        let mut alternatives = Vec::new();
        for alternative in text.split("||") {
            let constraints = parse_alternative(alternative).map_err(|constraint| {
                if constraint.is_empty() {
                    Error::EmptyAlternative {
                        range: text.to_owned(),
                    }
                } else {
                    Error::Constraint {
                        range: text.to_owned(),
                        constraint,
                    }
                }
            })?;
            alternatives.push(constraints);
        }
        Ok(Self {
            text: text.to_owned(),
            alternatives,
        })
    }

    /// Whether `version` satisfies the range.
    pub fn matches(&self, version: &Version) -> bool {
        self.alternatives
            .iter()
            .any(|all| all.iter().all(|c| c.matches(version)))
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
                Some((b, bt)) if precedence(b, v) != Ordering::Less => Some((b, bt)),
                _ => Some((v, t)),
            })
    }

    /// The range as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl FromStr for Range {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        Self::parse(s)
    }
}

impl fmt::Display for Range {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// SemVer precedence: build metadata is ignored.
fn precedence(a: &Version, b: &Version) -> Ordering {
    (a.major, a.minor, a.patch)
        .cmp(&(b.major, b.minor, b.patch))
        .then_with(|| a.pre.cmp(&b.pre))
}

const OPS: [(&str, Op); 11] = [
    (">=", Op::Ge),
    ("=>", Op::Ge),
    ("<=", Op::Le),
    ("=<", Op::Le),
    ("!=", Op::Ne),
    ("~>", Op::Tilde),
    (">", Op::Gt),
    ("<", Op::Lt),
    ("=", Op::Eq),
    ("~", Op::Tilde),
    ("^", Op::Caret),
];

fn is_op(token: &str) -> bool {
    OPS.iter().any(|(s, _)| *s == token)
}

/// Parses one `||` alternative; on failure returns the offending text (empty for no constraint).
fn parse_alternative(text: &str) -> Result<Vec<Constraint>, String> {
    let spaced = text.replace(',', " ");
    let raw: Vec<&str> = spaced.split_whitespace().collect();
    // Join a lone operator with the version after it (`>= 1.2`).
    let mut tokens: Vec<String> = Vec::new();
    let mut i = 0;
    while i < raw.len() {
        if is_op(raw[i]) && i + 1 < raw.len() {
            tokens.push(format!("{}{}", raw[i], raw[i + 1]));
            i += 2;
        } else {
            tokens.push(raw[i].to_owned());
            i += 1;
        }
    }
    if tokens.is_empty() {
        return Err(String::new());
    }
    let mut constraints = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        if i + 2 < tokens.len() && tokens[i + 1] == "-" {
            // Hyphen range: `a - b`.
            let low = parse_constraint(&format!(">={}", tokens[i])).ok_or(tokens[i].clone())?;
            let high =
                parse_constraint(&format!("<={}", tokens[i + 2])).ok_or(tokens[i + 2].clone())?;
            constraints.push(low);
            constraints.push(high);
            i += 3;
        } else {
            constraints.push(parse_constraint(&tokens[i]).ok_or(tokens[i].clone())?);
            i += 1;
        }
    }
    Ok(constraints)
}

fn is_wild(part: &str) -> bool {
    matches!(part, "x" | "X" | "*")
}

fn parse_number(part: &str) -> Option<u64> {
    if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if part.len() > 1 && part.starts_with('0') {
        return None;
    }
    part.parse().ok()
}

fn parse_constraint(token: &str) -> Option<Constraint> {
    let (op, rest) = OPS
        .iter()
        .find_map(|(s, op)| token.strip_prefix(s).map(|rest| (*op, rest)))
        .unwrap_or((Op::Eq, token));
    let rest = rest.strip_prefix('v').unwrap_or(rest);
    if rest.is_empty() {
        return None;
    }
    // Split off pre-release and build metadata.
    let (core, build) = match rest.split_once('+') {
        Some((c, b)) => (c, Some(b)),
        None => (rest, None),
    };
    let (core, pre) = match core.split_once('-') {
        Some((c, p)) => (c, Some(p)),
        None => (core, None),
    };
    let parts: Vec<&str> = core.split('.').collect();
    if parts.len() > 3 {
        return None;
    }
    let major = parts[0];
    let minor = parts.get(1).copied();
    let patch = parts.get(2).copied();
    let (mut major_n, mut minor_n, mut patch_n) = (0, 0, 0);
    let (mut minor_dirty, mut patch_dirty, mut dirty) = (false, false, false);
    if is_wild(major) {
        dirty = true;
        // Masterminds: a wildcard major leaves both lower parts dirty too.
        minor_dirty = true;
        patch_dirty = true;
    } else {
        major_n = parse_number(major)?;
        match minor {
            None => {
                minor_dirty = true;
                dirty = true;
            }
            Some(m) if is_wild(m) => {
                minor_dirty = true;
                dirty = true;
            }
            Some(m) => {
                minor_n = parse_number(m)?;
                match patch {
                    None => {
                        patch_dirty = true;
                        dirty = true;
                    }
                    Some(p) if is_wild(p) => {
                        patch_dirty = true;
                        dirty = true;
                    }
                    Some(p) => patch_n = parse_number(p)?,
                }
            }
        }
    }
    let mut text = format!("{major_n}.{minor_n}.{patch_n}");
    if let Some(pre) = pre {
        text.push('-');
        text.push_str(pre);
    }
    if let Some(build) = build {
        text.push('+');
        text.push_str(build);
    }
    let version = Version::parse(&text).ok()?;
    // A bare `*` (or `x`) means any release: `>=0.0.0`.
    let op = if is_wild(major) && op == Op::Eq {
        Op::Ge
    } else {
        op
    };
    Some(Constraint {
        op,
        version,
        minor_dirty,
        patch_dirty,
        dirty,
    })
}

impl Constraint {
    fn matches(&self, v: &Version) -> bool {
        // Pre-releases are only considered by constraints that name one.
        if !v.pre.is_empty() && self.version.pre.is_empty() {
            return false;
        }
        let c = &self.version;
        let cmp = precedence(v, c);
        match self.op {
            Op::Eq => {
                if self.dirty {
                    self.tilde(v)
                } else {
                    cmp == Ordering::Equal
                }
            }
            Op::Ne => {
                if self.dirty {
                    if v.major != c.major {
                        true
                    } else if self.minor_dirty {
                        false
                    } else if v.minor != c.minor {
                        true
                    } else {
                        !self.patch_dirty && v.patch != c.patch
                    }
                } else {
                    cmp != Ordering::Equal
                }
            }
            Op::Gt => {
                if !self.dirty {
                    cmp == Ordering::Greater
                } else if v.major != c.major {
                    v.major > c.major
                } else if self.minor_dirty {
                    false
                } else if self.patch_dirty {
                    v.minor > c.minor
                } else {
                    cmp == Ordering::Greater
                }
            }
            Op::Lt => cmp == Ordering::Less,
            Op::Ge => cmp != Ordering::Less,
            Op::Le => {
                if !self.dirty {
                    cmp != Ordering::Greater
                } else if v.major != c.major {
                    v.major < c.major
                } else if self.minor_dirty {
                    true
                } else if self.patch_dirty {
                    v.minor <= c.minor
                } else {
                    cmp != Ordering::Greater
                }
            }
            Op::Tilde => self.tilde(v),
            Op::Caret => self.caret(v),
        }
    }

    fn tilde(&self, v: &Version) -> bool {
        let c = &self.version;
        if precedence(v, c) == Ordering::Less {
            return false;
        }
        if c.major == 0 && c.minor == 0 && c.patch == 0 && !self.minor_dirty && !self.patch_dirty {
            return true;
        }
        if v.major != c.major {
            return false;
        }
        if v.minor != c.minor && !self.minor_dirty {
            return false;
        }
        true
    }

    fn caret(&self, v: &Version) -> bool {
        let c = &self.version;
        if precedence(v, c) == Ordering::Less {
            return false;
        }
        if c.major > 0 || self.minor_dirty {
            return v.major == c.major;
        }
        if v.major > 0 {
            return false;
        }
        if c.minor > 0 || self.patch_dirty {
            return v.minor == c.minor;
        }
        if v.minor > 0 {
            return false;
        }
        v.patch == c.patch
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
