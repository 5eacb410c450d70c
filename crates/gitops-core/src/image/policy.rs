//! Image policies with Flux's semantics: pick the latest tag by semver range, alphabetical or
//! numerical order, after an optional `filterTags` pattern.
//!
//! # Semver ranges: Flux's syntax, not Cargo's
//! Flux evaluates ranges with the Go Masterminds library. [`SemverRange`] implements that syntax
//! on top of the `semver` crate's [`Version`](semver::Version) (used for parsing and precedence
//! only); the `semver` crate's own `VersionReq` follows Cargo's rules and is not used. The
//! differences that matter:
//!
//! | input | Flux (and here) | Cargo's `VersionReq` |
//! |---|---|---|
//! | `1.2.3` (no operator) | exactly `=1.2.3` | `^1.2.3` |
//! | `1.2` / `1.x` / `1.2.*` | `>=1.2.0 <1.3.0` / `>=1.0.0 <2.0.0` / `>=1.2.0 <1.3.0` | `^1.2` / `1.*` / `1.2.*` |
//! | `>=1.0.0 <2.0.0` (space) | AND | error (comma only) |
//! | `a \|\| b` | OR | not supported |
//! | `1.2 - 1.4.5` | `>=1.2.0 <=1.4.5` (hyphen range) | not supported |
//! | `<=*` | only `0.0.x` (a quirk of the Go library, kept for compatibility) | any version |
//! | `~1` / `~>1.2` | `>=1.0.0 <2.0.0` / `>=1.2.0 <1.3.0` (`~>` is `~`) | `~>` unsupported |
//! | pre-releases | a version with a pre-release passes a constraint only when that constraint names a pre-release (`>=1.0.0-0`), in any major.minor.patch | only on the same major.minor.patch |
//! | build metadata | ignored for ordering | part of ordering as tie-break |
//!
//! Tags are parsed strictly (three numeric parts, semver 2.0 pre-release and build syntax) with an
//! optional leading `v`, as Flux does; tags that are not versions are ignored.

use std::cmp::Ordering;
use std::fmt;

use regex::Regex;
use semver::Version;

/// Errors from building or evaluating a policy.
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The semver range cannot be parsed.
    #[error("invalid semver range {range:?}: {reason}")]
    InvalidRange {
        /// The range as given.
        range: String,
        /// What is wrong.
        reason: String,
    },
    /// The `filterTags` pattern is not a valid regular expression.
    #[error("invalid filterTags pattern {pattern:?}: {reason}")]
    InvalidPattern {
        /// The pattern.
        pattern: String,
        /// The regex engine's message.
        reason: String,
    },
    /// A numerical policy met a tag (after extraction) that is not a number.
    #[error("tag {tag:?} is not a number (numerical policy)")]
    NotANumber {
        /// The tag, after extraction.
        tag: String,
    },
    /// No tag satisfies the policy.
    #[error("no tag matches the policy ({policy}) among {candidates} tags")]
    NoMatch {
        /// The policy, for people.
        policy: String,
        /// How many tags were considered.
        candidates: usize,
    },
}

/// Sort order of the alphabetical and numerical policies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Order {
    /// The latest is the greatest.
    Asc,
    /// The latest is the least.
    Desc,
}

/// How a policy orders tags.
#[derive(Clone, Debug)]
pub enum Choice {
    /// The highest version in the range.
    Semver(SemverRange),
    /// By byte-wise string order.
    Alphabetical(Order),
    /// By value as a floating-point number.
    Numerical(Order),
}

/// A complete image policy: an optional tag filter and an ordering.
#[derive(Clone, Debug)]
pub struct Policy {
    choice: Choice,
    filter: Option<(Regex, String)>,
}

impl Policy {
    /// A policy with no tag filter.
    pub fn new(choice: Choice) -> Self {
        Self {
            choice,
            filter: None,
        }
    }

    /// Keeps only tags matching `pattern`, ordered by the expansion of `extract` (`$1`, `$name`,
    /// `${name}`); an empty `extract` orders by the whole tag. The chosen tag is the original.
    pub fn with_filter(mut self, pattern: &str, extract: &str) -> Result<Self, Error> {
        let regex = Regex::new(pattern).map_err(|e| Error::InvalidPattern {
            pattern: pattern.to_owned(),
            reason: e.to_string(),
        })?;
        self.filter = Some((regex, extract.to_owned()));
        Ok(self)
    }

    /// Picks the latest tag.
    pub fn latest<'a, I>(&self, tags: I) -> Result<&'a str, Error>
    where
        I: IntoIterator<Item = &'a str>,
    {
        let mut candidates = 0;
        // (original tag, the value it is ordered by)
        let keyed = tags.into_iter().filter_map(|tag| {
            candidates += 1;
            match &self.filter {
                None => Some((tag, tag.to_owned())),
                Some((regex, extract)) => regex.captures(tag).map(|caps| {
                    if extract.is_empty() {
                        (tag, tag.to_owned())
                    } else {
                        let mut key = String::new();
                        caps.expand(extract, &mut key);
                        (tag, key)
                    }
                }),
            }
        });
        let best = match &self.choice {
            Choice::Semver(range) => keyed
                .filter_map(|(tag, key)| {
                    parse_tag(&key)
                        .filter(|v| range.matches(v))
                        .map(|v| (tag, v))
                })
                .max_by(|a, b| a.1.cmp_precedence(&b.1).then_with(|| a.0.cmp(b.0)))
                .map(|(tag, _)| tag),
            Choice::Alphabetical(order) => {
                let mut best: Option<(&str, String)> = None;
                for (tag, key) in keyed {
                    let better = best.as_ref().is_none_or(|(_, b)| match order {
                        Order::Asc => key > *b,
                        Order::Desc => key < *b,
                    });
                    if better {
                        best = Some((tag, key));
                    }
                }
                best.map(|(tag, _)| tag)
            }
            Choice::Numerical(order) => {
                let mut best: Option<(&str, f64)> = None;
                for (tag, key) in keyed {
                    let value: f64 = key
                        .parse()
                        .map_err(|_| Error::NotANumber { tag: key.clone() })?;
                    let better = best.is_none_or(|(_, b)| match order {
                        Order::Asc => value.total_cmp(&b) == Ordering::Greater,
                        Order::Desc => value.total_cmp(&b) == Ordering::Less,
                    });
                    if better {
                        best = Some((tag, value));
                    }
                }
                best.map(|(tag, _)| tag)
            }
        };
        best.ok_or_else(|| Error::NoMatch {
            policy: self.to_string(),
            candidates,
        })
    }
}

impl fmt::Display for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.choice {
            Choice::Semver(range) => write!(f, "semver {range}")?,
            Choice::Alphabetical(order) => write!(f, "alphabetical {order:?}")?,
            Choice::Numerical(order) => write!(f, "numerical {order:?}")?,
        }
        if let Some((regex, extract)) = &self.filter {
            write!(f, ", pattern {:?} extract {extract:?}", regex.as_str())?;
        }
        Ok(())
    }
}

/// Parses a tag as Flux does: strict semver with an optional leading `v`.
pub fn parse_tag(tag: &str) -> Option<Version> {
    Version::parse(tag.strip_prefix('v').unwrap_or(tag)).ok()
}

/// A Masterminds-style semver range: `||`-separated groups of AND-ed constraints.
#[derive(Clone, Debug)]
pub struct SemverRange {
    text: String,
    groups: Vec<Vec<Constraint>>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Exact,
    NotEqual,
    Greater,
    Less,
    GreaterEq,
    LessEq,
    Tilde,
    Caret,
}

/// One constraint. Missing or wildcard parts make it "dirty" at that level.
#[derive(Clone, Debug)]
struct Constraint {
    op: Op,
    version: Version,
    /// Major, minor or patch was a wildcard or missing.
    dirty: bool,
    /// Minor (and so patch) was a wildcard or missing.
    minor_dirty: bool,
    /// Patch was a wildcard or missing.
    patch_dirty: bool,
}

impl fmt::Display for SemverRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl std::str::FromStr for SemverRange {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self, Error> {
        let invalid = |reason: String| Error::InvalidRange {
            range: text.to_owned(),
            reason,
        };
        let mut groups = Vec::new();
        for group in text.split("||") {
            let tokens = tokenize(group).map_err(invalid)?;
            let mut constraints = Vec::new();
            let mut i = 0;
            while i < tokens.len() {
                // A hyphen range `A - B` is `>=A <=B`.
                if tokens.get(i + 1).map(String::as_str) == Some("-") {
                    let high = tokens
                        .get(i + 2)
                        .ok_or_else(|| invalid("hyphen range without an upper bound".into()))?;
                    constraints
                        .push(Constraint::parse(&format!(">={}", tokens[i])).map_err(invalid)?);
                    constraints.push(Constraint::parse(&format!("<={high}")).map_err(invalid)?);
                    i += 3;
                } else {
                    constraints.push(Constraint::parse(&tokens[i]).map_err(invalid)?);
                    i += 1;
                }
            }
            if constraints.is_empty() {
                // The Go library refuses an empty range or `a ||`; `*` says "any release".
                return Err(invalid(
                    "empty range or alternative (use `*` for any release)".into(),
                ));
            }
            groups.push(constraints);
        }
        Ok(Self {
            text: text.to_owned(),
            groups,
        })
    }
}

/// Splits a group into constraints: commas and spaces separate them, and an operator followed
/// by spaces belongs to the version after it (`>= 1.0.0`).
fn tokenize(group: &str) -> Result<Vec<String>, String> {
    let mut tokens: Vec<String> = Vec::new();
    let mut pending_op = String::new();
    for word in group.split([',', ' ', '\t']).filter(|w| !w.is_empty()) {
        let op_only = !word.is_empty() && word.chars().all(|c| "<>=!~^".contains(c));
        if op_only {
            if !pending_op.is_empty() {
                return Err(format!("operator {pending_op:?} without a version"));
            }
            pending_op = word.to_owned();
        } else {
            tokens.push(format!("{pending_op}{word}"));
            pending_op.clear();
        }
    }
    if !pending_op.is_empty() {
        return Err(format!("operator {pending_op:?} without a version"));
    }
    Ok(tokens)
}

fn is_wildcard(part: &str) -> bool {
    matches!(part, "x" | "X" | "*")
}

impl Constraint {
    fn parse(text: &str) -> Result<Self, String> {
        let split = text
            .find(|c: char| !"<>=!~^".contains(c))
            .unwrap_or(text.len());
        let (op_text, rest) = text.split_at(split);
        let op = match op_text {
            "" | "=" => Op::Exact,
            "!=" => Op::NotEqual,
            ">" => Op::Greater,
            "<" => Op::Less,
            ">=" | "=>" => Op::GreaterEq,
            "<=" | "=<" => Op::LessEq,
            "~" | "~>" => Op::Tilde,
            "^" => Op::Caret,
            other => return Err(format!("unknown operator {other:?}")),
        };
        let rest = rest.strip_prefix('v').unwrap_or(rest);
        // Split off `-pre` and `+build` after the numeric core.
        let core_end = rest.find(['-', '+']).unwrap_or(rest.len());
        let (core, suffix) = rest.split_at(core_end);
        let parts: Vec<&str> = core.split('.').collect();
        if parts.is_empty() || parts.len() > 3 || parts.iter().any(|p| p.is_empty()) {
            return Err(format!("{text:?} is not a version"));
        }
        let number = |p: &str| -> Result<Option<u64>, String> {
            if is_wildcard(p) {
                return Ok(None);
            }
            p.parse::<u64>()
                .map(Some)
                .map_err(|_| format!("{p:?} in {text:?} is not a number"))
        };
        let major = number(parts[0])?;
        let minor = parts.get(1).map(|p| number(p)).transpose()?.flatten();
        let patch = parts.get(2).map(|p| number(p)).transpose()?.flatten();
        let (dirty, minor_dirty, patch_dirty, core) = match (major, minor, patch) {
            (None, _, _) => (true, false, false, "0.0.0".to_owned()),
            (Some(ma), None, _) => (true, true, false, format!("{ma}.0.0")),
            (Some(ma), Some(mi), None) => (true, false, true, format!("{ma}.{mi}.0")),
            (Some(ma), Some(mi), Some(pa)) => (false, false, false, format!("{ma}.{mi}.{pa}")),
        };
        let version =
            Version::parse(&format!("{core}{suffix}")).map_err(|e| format!("{text:?}: {e}"))?;
        Ok(Self {
            op,
            version,
            dirty,
            minor_dirty,
            patch_dirty,
        })
    }

    fn matches(&self, v: &Version) -> bool {
        let c = &self.version;
        let wants_pre = !c.pre.is_empty();
        // A pre-release passes only constraints that name one (Masterminds' rule), except an
        // exact `!=`, which only excludes one version.
        let exact_exclusion = self.op == Op::NotEqual && !self.dirty;
        if !v.pre.is_empty() && !wants_pre && !exact_exclusion {
            return false;
        }
        let cmp = v.cmp_precedence(c);
        match self.op {
            Op::Exact if self.dirty => self.tilde(v, cmp),
            Op::Exact => cmp == Ordering::Equal,
            Op::NotEqual => !self.within_wildcard(v, cmp),
            Op::Less => cmp == Ordering::Less,
            Op::GreaterEq => cmp != Ordering::Less,
            Op::Greater if !self.minor_dirty && !self.patch_dirty => cmp == Ordering::Greater,
            Op::Greater => {
                v.major > c.major
                    || (v.major == c.major
                        && !self.minor_dirty
                        && self.patch_dirty
                        && v.minor > c.minor)
            }
            Op::LessEq if !self.dirty => cmp != Ordering::Greater,
            Op::LessEq => {
                !(v.major > c.major
                    || (v.major == c.major && !self.minor_dirty && v.minor > c.minor))
            }
            Op::Tilde => self.tilde(v, cmp),
            Op::Caret => self.caret(v, cmp),
        }
    }

    /// Whether `v` equals the constraint, wildcards included (for `!=`).
    fn within_wildcard(&self, v: &Version, cmp: Ordering) -> bool {
        let c = &self.version;
        if !self.dirty {
            return cmp == Ordering::Equal;
        }
        if c.major != v.major {
            return false;
        }
        if self.minor_dirty {
            return true;
        }
        if c.minor != v.minor {
            return false;
        }
        // Patch dirty: equal unless the pre-releases differ.
        v.pre == c.pre || (v.pre.is_empty() && c.pre.is_empty())
    }

    fn tilde(&self, v: &Version, cmp: Ordering) -> bool {
        let c = &self.version;
        if cmp == Ordering::Less {
            return false;
        }
        if c.major == 0 && c.minor == 0 && c.patch == 0 && !self.minor_dirty && !self.patch_dirty {
            return true;
        }
        v.major == c.major && (self.minor_dirty || v.minor == c.minor)
    }

    fn caret(&self, v: &Version, cmp: Ordering) -> bool {
        let c = &self.version;
        if cmp == Ordering::Less {
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
        v.minor == 0 && v.patch == c.patch
    }
}

impl PartialEq for SemverRange {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl Eq for SemverRange {}

impl SemverRange {
    /// The range as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether a version satisfies the range.
    pub fn matches(&self, version: &Version) -> bool {
        self.groups
            .iter()
            .any(|group| group.iter().all(|c| c.matches(version)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(range: &str, yes: &[&str], no: &[&str]) {
        let r: SemverRange = range.parse().unwrap_or_else(|e| panic!("{range}: {e}"));
        for v in yes {
            assert!(
                r.matches(&parse_tag(v).unwrap()),
                "{range} should match {v}"
            );
        }
        for v in no {
            assert!(
                !r.matches(&parse_tag(v).unwrap()),
                "{range} should not match {v}"
            );
        }
    }

    #[test]
    fn comparison_operators() {
        check(
            ">=1.0.0",
            &["1.0.0", "1.2.3", "10.0.0"],
            &["0.9.9", "1.1.0-rc.1"],
        );
        check(">= 1.0.0 < 2.0.0", &["1.0.0", "1.9.9"], &["2.0.0", "0.1.0"]);
        check(">=1.0.0, <2.0.0", &["1.5.0"], &["2.0.1"]);
        check(
            "1.2.3",
            &["1.2.3", "1.2.3+build.5"],
            &["1.2.4", "1.2.3-rc.1"],
        );
        check("!=1.2.3", &["1.2.4", "1.2.4-beta"], &["1.2.3"]);
        check(">1.2", &["1.3.0", "2.0.0"], &["1.2.9", "1.2.0"]);
        check(">1", &["2.0.0"], &["1.9.0"]);
        check("<=1.2", &["1.2.9", "1.0.0"], &["1.3.0"]);
        check("<1.2", &["1.1.9"], &["1.2.0"]);
        check(">*", &["0.0.1"], &["0.0.0"]);
        check("<=*", &["0.0.5"], &["0.5.0", "1.0.0"]);
        check("=<1.2.3", &["1.2.3"], &["1.2.4"]);
    }

    #[test]
    fn wildcards_tilde_and_caret() {
        check("1.x", &["1.0.0", "1.9.3"], &["2.0.0", "0.9.0"]);
        check("1.2", &["1.2.0", "1.2.7"], &["1.3.0"]);
        check("*", &["0.0.1", "9.9.9"], &["1.0.0-alpha"]);
        check("~1.2.3", &["1.2.3", "1.2.9"], &["1.3.0", "1.2.2"]);
        check("~1.2", &["1.2.0", "1.2.9"], &["1.3.0"]);
        check("~1", &["1.0.0", "1.9.0"], &["2.0.0"]);
        check("~>1.2", &["1.2.4"], &["1.3.0"]);
        check("^1.2.3", &["1.2.3", "1.9.0"], &["2.0.0", "1.2.2"]);
        check("^1", &["1.0.0", "1.99.0"], &["2.0.0"]);
        check("^0.2.3", &["0.2.3", "0.2.9"], &["0.3.0"]);
        check("^0.0.3", &["0.0.3"], &["0.0.4", "0.1.0"]);
        check("^0", &["0.0.1", "0.9.0"], &["1.0.0"]);
        check("1.2 - 1.4.5", &["1.2.0", "1.4.5"], &["1.4.6", "1.1.9"]);
        check("<1.0.0 || >=3.0.0", &["0.5.0", "3.1.0"], &["2.0.0"]);
    }

    #[test]
    fn prereleases_only_when_the_constraint_names_one() {
        check(
            ">=1.0.0-0",
            &["1.0.0-rc.1", "2.0.0-alpha", "1.0.0"],
            &["0.9.0"],
        );
        check(">=1.0.0", &["1.0.0"], &["1.1.0-rc.1"]);
        check(">=1.0.0-alpha <2.0.0", &["1.5.0"], &["1.5.0-rc.1"]);
    }

    #[test]
    fn tags_parse_strictly_with_an_optional_v() {
        assert!(parse_tag("v1.2.3").is_some());
        assert!(parse_tag("1.2.3-rc.1+build").is_some());
        for bad in [
            "1.2",
            "v1",
            "latest",
            "1.02.3",
            "vv1.2.3",
            "sha-abc123",
            "1.2.3.4",
        ] {
            assert!(parse_tag(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn bad_ranges_are_errors() {
        for bad in [
            ">=",
            "1.2.3.4",
            "=>>1.0.0",
            ">=a.b.c",
            "1.2 -",
            "",
            ">=1.0.0 ||",
        ] {
            assert!(bad.parse::<SemverRange>().is_err(), "{bad}");
        }
    }

    fn tags() -> Vec<&'static str> {
        vec![
            "1.0.0",
            "v1.1.0",
            "1.2.0-rc.1",
            "latest",
            "0.9.0",
            "1.1.0+build.2",
            "sha-1234abc",
        ]
    }

    #[test]
    fn semver_policy_ignores_non_versions_and_build_metadata() {
        let policy = Policy::new(Choice::Semver(">=1.0.0".parse().unwrap()));
        let latest = policy.latest(tags()).unwrap();
        assert!(latest == "v1.1.0" || latest == "1.1.0+build.2", "{latest}");
        let pre = Policy::new(Choice::Semver(">=1.0.0-0".parse().unwrap()));
        assert_eq!(pre.latest(tags()).unwrap(), "1.2.0-rc.1");
        let none = Policy::new(Choice::Semver(">=5.0.0".parse().unwrap()));
        assert_eq!(
            none.latest(tags()).unwrap_err().to_string(),
            "no tag matches the policy (semver >=5.0.0) among 7 tags"
        );
    }

    #[test]
    fn alphabetical_and_numerical_with_filters() {
        let dated = [
            "RELEASE.2024-01-03",
            "RELEASE.2024-11-20",
            "RELEASE.2023-12-31",
            "other",
        ];
        let asc = Policy::new(Choice::Alphabetical(Order::Asc))
            .with_filter(r"^RELEASE\.(?P<ts>.*)$", "$ts")
            .unwrap();
        assert_eq!(asc.latest(dated).unwrap(), "RELEASE.2024-11-20");
        let desc = Policy::new(Choice::Alphabetical(Order::Desc))
            .with_filter(r"^RELEASE\.", "")
            .unwrap();
        assert_eq!(desc.latest(dated).unwrap(), "RELEASE.2023-12-31");

        let builds = ["main-9-abc", "main-10-def", "main-2-ghi", "pr-99-zzz"];
        let numeric = Policy::new(Choice::Numerical(Order::Asc))
            .with_filter(r"^main-(\d+)-", "$1")
            .unwrap();
        assert_eq!(numeric.latest(builds).unwrap(), "main-10-def");
        let lowest = Policy::new(Choice::Numerical(Order::Desc))
            .with_filter(r"^main-(\d+)-", "$1")
            .unwrap();
        assert_eq!(lowest.latest(builds).unwrap(), "main-2-ghi");
        let bad = Policy::new(Choice::Numerical(Order::Asc));
        assert_eq!(
            bad.latest(["1", "two"]).unwrap_err(),
            Error::NotANumber { tag: "two".into() }
        );
        assert!(
            Policy::new(Choice::Numerical(Order::Asc))
                .with_filter("(", "")
                .is_err()
        );
        let semver = Policy::new(Choice::Semver("^1".parse().unwrap()))
            .with_filter(r"^app-(.*)$", "$1")
            .unwrap();
        assert_eq!(
            semver
                .latest(["app-1.2.0", "app-1.10.0", "1.99.0", "app-2.0.0"])
                .unwrap(),
            "app-1.10.0"
        );
    }
}
