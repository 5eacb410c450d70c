//! Sprig's `semver` and `semverCompare`, as Masterminds/semver v3 parses versions and checks
//! constraints (Helm v4.3.2 builds with semver v3.5.0, whose messages these are; loose versions such as `v1.2`, `x` wildcards, `~`, `^`, hyphen ranges, `||`;
//! pre-release versions only match constraints that name a pre-release).

use std::cmp::Ordering;
use std::sync::{Arc, OnceLock};

use regex::Regex;

use crate::{Function, Functions, Object, Ty, Value};

const CV: &str = r"v?([0-9|x|X|\*]+)(\.[0-9|x|X|\*]+)?(\.[0-9|x|X|\*]+)?(-([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?(\+([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?";
const OPS: &str = r"=||!=|>|<|>=|=>|<=|=<|~|~>|\^";

struct Regexes {
    constraint: Regex,
    range: Regex,
    find: Regex,
    valid: Regex,
}

/// The patterns of Masterminds/semver for constraint lists, compiled on first use (about a
/// millisecond): a plain constraint such as `>=1.21-0`, what charts nearly always write, is
/// read without them ([`plain_constraint`]).
fn regexes() -> &'static Regexes {
    static R: OnceLock<Regexes> = OnceLock::new();
    R.get_or_init(|| {
        let build = |s: &str| {
            Regex::new(s).expect("the semver patterns are valid because they are constants")
        };
        Regexes {
            constraint: build(&format!(r"^\s*({OPS})\s*({CV})\s*$")),
            range: build(&format!(r"\s*({CV})\s+-\s+({CV})\s*")),
            find: build(&format!(r"({OPS})\s*({CV})")),
            valid: build(&format!(
                r"^(\s*({OPS})\s*({CV})\s*)((?:\s+|,\s*)({OPS})\s*({CV})\s*)*$"
            )),
        }
    })
}

/// The parts of a version as Masterminds/semver's strict pattern
/// `^v?([0-9]+)(\.[0-9]+)?(\.[0-9]+)?(-(ID(\.ID)*))?(\+(ID(\.ID)*))?$` (`ID` being
/// `[0-9A-Za-z-]+`) captures them: the minor and patch parts with their dot.
struct VersionParts<'a> {
    major: &'a str,
    minor: Option<&'a str>,
    patch: Option<&'a str>,
    pre: &'a str,
    meta: &'a str,
}

/// Reads `s` with that pattern, left to right (no part of it can end in two places, so no
/// backtracking is needed).
fn version_parts(s: &str) -> Option<VersionParts<'_>> {
    let b = s.as_bytes();
    let digits = |at: usize| b[at..].iter().take_while(|c| c.is_ascii_digit()).count();
    // `ID(\.ID)*` from `at`: its length (0 when there is none).
    let ids = |at: usize| {
        let mut end = at;
        loop {
            let id = b[end..]
                .iter()
                .take_while(|c| c.is_ascii_alphanumeric() || **c == b'-')
                .count();
            if id == 0 {
                return None;
            }
            end += id;
            if b.get(end) != Some(&b'.') {
                return Some(end - at);
            }
            end += 1;
        }
    };
    let mut at = usize::from(b.first() == Some(&b'v'));
    let n = digits(at);
    if n == 0 {
        return None;
    }
    let major = &s[at..at + n];
    at += n;
    let mut dotted = || {
        if b.get(at) == Some(&b'.') {
            let n = digits(at + 1);
            if n > 0 {
                let part = &s[at..at + 1 + n];
                at += 1 + n;
                return Some(part);
            }
        }
        None
    };
    let minor = dotted();
    let patch = if minor.is_some() { dotted() } else { None };
    let mut pre = "";
    if b.get(at) == Some(&b'-') {
        let n = ids(at + 1)?;
        pre = &s[at + 1..at + 1 + n];
        at += 1 + n;
    }
    let mut meta = "";
    if b.get(at) == Some(&b'+') {
        let n = ids(at + 1)?;
        meta = &s[at + 1..at + 1 + n];
        at += 1 + n;
    }
    (at == b.len()).then_some(VersionParts {
        major,
        minor,
        patch,
        pre,
        meta,
    })
}

/// A parsed semantic version.
#[derive(Debug, Clone)]
pub(crate) struct Version {
    major: u64,
    minor: u64,
    patch: u64,
    pre: String,
    meta: String,
    original: String,
}

impl Version {
    pub(crate) fn parse(s: &str) -> Result<Version, String> {
        let parts = version_parts(s).ok_or("invalid semantic version")?;
        let seg = |part: Option<&str>| -> Result<u64, String> {
            match part {
                None => Ok(0),
                Some(x) => x
                    .trim_start_matches('.')
                    .parse()
                    .map_err(|e| format!("Error parsing version segment: {e}")),
            }
        };
        let pre = parts.pre.to_string();
        for part in pre.split('.') {
            if part.len() > 1 && part.starts_with('0') && part.bytes().all(|b| b.is_ascii_digit()) {
                return Err("version segment starts with 0".into());
            }
        }
        Ok(Version {
            major: seg(Some(parts.major))?,
            minor: seg(parts.minor)?,
            patch: seg(parts.patch)?,
            pre,
            meta: parts.meta.to_string(),
            original: s.to_string(),
        })
    }

    fn compare(&self, o: &Version) -> Ordering {
        (self.major, self.minor, self.patch)
            .cmp(&(o.major, o.minor, o.patch))
            .then_with(|| match (self.pre.is_empty(), o.pre.is_empty()) {
                (true, true) => Ordering::Equal,
                (true, false) => Ordering::Greater,
                (false, true) => Ordering::Less,
                (false, false) => compare_pre(&self.pre, &o.pre),
            })
    }

    fn text(&self) -> String {
        let mut s = format!("{}.{}.{}", self.major, self.minor, self.patch);
        if !self.pre.is_empty() {
            s.push('-');
            s.push_str(&self.pre);
        }
        if !self.meta.is_empty() {
            s.push('+');
            s.push_str(&self.meta);
        }
        s
    }
}

fn compare_pre(a: &str, b: &str) -> Ordering {
    let (sa, sb): (Vec<&str>, Vec<&str>) = (a.split('.').collect(), b.split('.').collect());
    for i in 0..sa.len().max(sb.len()) {
        let (x, y) = (
            sa.get(i).copied().unwrap_or(""),
            sb.get(i).copied().unwrap_or(""),
        );
        let d = compare_part(x, y);
        if d != Ordering::Equal {
            return d;
        }
    }
    Ordering::Equal
}

fn compare_part(s: &str, o: &str) -> Ordering {
    if s == o {
        return Ordering::Equal;
    }
    if s.is_empty() {
        return Ordering::Less;
    }
    if o.is_empty() {
        return Ordering::Greater;
    }
    match (s.parse::<u64>(), o.parse::<u64>()) {
        (Err(_), Err(_)) => {
            if s > o {
                Ordering::Greater
            } else {
                Ordering::Less
            }
        }
        (Ok(_), Err(_)) => Ordering::Less,
        (Err(_), Ok(_)) => Ordering::Greater,
        (Ok(a), Ok(b)) => {
            if a > b {
                Ordering::Greater
            } else {
                Ordering::Less
            }
        }
    }
}

struct Constraint {
    op: String,
    con: Version,
    minor_dirty: bool,
    patch_dirty: bool,
    dirty: bool,
}

fn is_x(s: &str) -> bool {
    matches!(s, "x" | "X" | "*")
}

fn parse_constraint(c: &str) -> Result<Constraint, String> {
    let m = regexes()
        .constraint
        .captures(c)
        .ok_or_else(|| format!("improper constraint: {}", crate::gofmt::quote(c, false)))?;
    let g = |i: usize| m.get(i).map_or("", |x| x.as_str());
    constraint(g(1), g(2), [g(3), g(4), g(5), g(6)])
}

/// The constraint of operator `op` on version `cv`, whose parts are the constraint
/// pattern's captures: major, minor and patch (with their dot; `x`, `X` or `*` for any), and
/// the pre-release with its dash.
fn constraint(
    op: &str,
    cv: &str,
    [major, minor, patch, pre]: [&str; 4],
) -> Result<Constraint, String> {
    let (mut minor_dirty, mut patch_dirty, mut dirty) = (false, false, false);
    let ver = if is_x(major) || major.is_empty() {
        dirty = true;
        format!("0.0.0{pre}")
    } else if is_x(minor.trim_start_matches('.')) || minor.is_empty() {
        minor_dirty = true;
        dirty = true;
        format!("{major}.0.0{pre}")
    } else if is_x(patch.trim_start_matches('.')) || patch.is_empty() {
        dirty = true;
        patch_dirty = true;
        format!("{major}{minor}.0{pre}")
    } else {
        cv.to_string()
    };
    let con = Version::parse(&ver).map_err(|_| "constraint Parser Error".to_string())?;
    Ok(Constraint {
        op: op.to_string(),
        con,
        minor_dirty,
        patch_dirty,
        dirty,
    })
}

/// A constraint set: OR of ANDs.
struct Constraints(Vec<Vec<Constraint>>);

/// A plain constraint (`>=1.21-0`, `~ v1.2.3`, `1.2`): ASCII whitespace, an operator,
/// whitespace, a version of digits with an optional pre-release and build, whitespace. The
/// patterns read it into exactly this one constraint; `None` for anything else (lists,
/// `||`, ranges, wildcards), which goes through them.
fn plain_constraint(c: &str) -> Option<Result<Constraint, String>> {
    let is_space = |ch: char| matches!(ch, ' ' | '\t' | '\n' | '\r' | '\x0c');
    let rest = c.trim_matches(is_space);
    let op_len = rest.find(|ch: char| !matches!(ch, '=' | '!' | '>' | '<' | '~' | '^'))?;
    let op = &rest[..op_len];
    if !matches!(
        op,
        "" | "=" | "!=" | ">" | "<" | ">=" | "=>" | "<=" | "=<" | "~" | "~>" | "^"
    ) {
        return None;
    }
    let cv = rest[op_len..].trim_start_matches(is_space);
    let parts = version_parts(cv)?;
    let pre_start =
        cv.len() - parts.meta.len() - usize::from(!parts.meta.is_empty()) - parts.pre.len();
    let pre = if parts.pre.is_empty() {
        ""
    } else {
        &cv[pre_start - 1..pre_start + parts.pre.len()]
    };
    Some(constraint(
        op,
        cv,
        [
            parts.major,
            parts.minor.unwrap_or(""),
            parts.patch.unwrap_or(""),
            pre,
        ],
    ))
}

impl Constraints {
    fn parse(c: &str) -> Result<Constraints, String> {
        if let Some(one) = plain_constraint(c) {
            return Ok(Constraints(vec![vec![one?]]));
        }
        let r = regexes();
        let mut text = c.to_string();
        let ranges: Vec<(String, String, String)> = r
            .range
            .captures_iter(c)
            .map(|m| {
                (
                    m[0].to_string(),
                    m[1].to_string(),
                    m.get(11).map_or("", |x| x.as_str()).to_string(),
                )
            })
            .collect();
        for (whole, lo, hi) in ranges {
            text = text.replace(&whole, &format!(">= {lo}, <= {hi} "));
        }
        let mut ors = Vec::new();
        for v in text.split("||") {
            if !r.valid.is_match(v) {
                return Err(format!(
                    "improper constraint: {}",
                    crate::gofmt::quote(v, false)
                ));
            }
            let found: Vec<&str> = r.find.find_iter(v).map(|m| m.as_str()).collect();
            let found = if found.is_empty() { vec![v] } else { found };
            ors.push(
                found
                    .into_iter()
                    .map(parse_constraint)
                    .collect::<Result<Vec<_>, _>>()?,
            );
        }
        Ok(Constraints(ors))
    }

    fn check(&self, v: &Version) -> bool {
        self.0.iter().any(|and| and.iter().all(|c| c.check(v)))
    }
}

impl Constraint {
    fn check(&self, v: &Version) -> bool {
        let c = &self.con;
        let pre_blocked = !v.pre.is_empty() && c.pre.is_empty();
        match self.op.as_str() {
            "" | "=" => {
                if pre_blocked {
                    return false;
                }
                if self.dirty {
                    return self.tilde(v);
                }
                v.compare(c) == Ordering::Equal
            }
            "!=" => {
                if self.dirty {
                    if pre_blocked {
                        return false;
                    }
                    if c.major != v.major {
                        return true;
                    }
                    if c.minor != v.minor && !self.minor_dirty {
                        return true;
                    } else if self.minor_dirty {
                        return false;
                    } else if c.patch != v.patch && !self.patch_dirty {
                        return true;
                    } else if self.patch_dirty {
                        if !v.pre.is_empty() || !c.pre.is_empty() {
                            return compare_pre(&v.pre, &c.pre) != Ordering::Equal;
                        }
                        return false;
                    }
                }
                v.compare(c) != Ordering::Equal
            }
            ">" => {
                if pre_blocked {
                    return false;
                }
                if !self.dirty {
                    return v.compare(c) == Ordering::Greater;
                }
                if v.major > c.major {
                    true
                } else if v.major < c.major || self.minor_dirty {
                    false
                } else if self.patch_dirty {
                    v.minor > c.minor
                } else {
                    v.compare(c) == Ordering::Greater
                }
            }
            "<" => !pre_blocked && v.compare(c) == Ordering::Less,
            ">=" | "=>" => !pre_blocked && v.compare(c) != Ordering::Less,
            "<=" | "=<" => {
                if pre_blocked {
                    return false;
                }
                if !self.dirty {
                    return v.compare(c) != Ordering::Greater;
                }
                !(v.major > c.major
                    || (v.major == c.major && v.minor > c.minor && !self.minor_dirty))
            }
            "~" | "~>" => !pre_blocked && self.tilde(v),
            "^" => {
                if pre_blocked || v.compare(c) == Ordering::Less {
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
                c.patch == v.patch
            }
            _ => false,
        }
    }

    fn tilde(&self, v: &Version) -> bool {
        let c = &self.con;
        if !v.pre.is_empty() && c.pre.is_empty() {
            return false;
        }
        if v.compare(c) == Ordering::Less {
            return false;
        }
        if c.major == 0 && c.minor == 0 && c.patch == 0 && !self.minor_dirty && !self.patch_dirty {
            return true;
        }
        if v.major != c.major {
            return false;
        }
        v.minor == c.minor || self.minor_dirty
    }
}

/// `*semver.Version` as templates see it: methods and its `String()` when printed.
#[derive(Debug)]
struct VersionObject(Version);

impl Object for VersionObject {
    fn type_name(&self) -> &str {
        "*semver.Version"
    }

    fn method(&self, name: &str) -> Option<Function> {
        let v = self.0.clone();
        let f = match name {
            "Major" => Function::new(&[], move |_| Ok(Value::Int(v.major as i64))),
            "Minor" => Function::new(&[], move |_| Ok(Value::Int(v.minor as i64))),
            "Patch" => Function::new(&[], move |_| Ok(Value::Int(v.patch as i64))),
            "Prerelease" => Function::new(&[], move |_| Ok(Value::String(v.pre.clone()))),
            "Metadata" => Function::new(&[], move |_| Ok(Value::String(v.meta.clone()))),
            "Original" => Function::new(&[], move |_| Ok(Value::String(v.original.clone()))),
            "String" => Function::new(&[], move |_| Ok(Value::String(v.text()))),
            _ => return None,
        };
        Some(f)
    }

    fn display(&self) -> String {
        self.0.text()
    }
}

pub(super) fn register(f: &mut Functions) {
    f.insert(
        "semver",
        Function::new(&[Ty::String], |a| {
            let v = Version::parse(a[0].as_str().unwrap_or_default())?;
            Ok(Value::Object(Arc::new(VersionObject(v))))
        }),
    );
    f.insert(
        "semverCompare",
        Function::new(&[Ty::String, Ty::String], |a| {
            let c = Constraints::parse(a[0].as_str().unwrap_or_default())?;
            let v = Version::parse(a[1].as_str().unwrap_or_default())?;
            Ok(Value::Bool(c.check(&v)))
        }),
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Masterminds/semver's strict version pattern, which [`version_parts`] reads by hand.
    fn version_pattern() -> Regex {
        Regex::new(r"^v?([0-9]+)(\.[0-9]+)?(\.[0-9]+)?(-([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?(\+([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?$")
            .expect("valid pattern")
    }

    fn shown(c: &Result<Constraint, String>) -> String {
        match c {
            Ok(c) => format!(
                "{} {} {:?} {} {} {}",
                c.op,
                c.con.text(),
                c.con.original,
                c.minor_dirty,
                c.patch_dirty,
                c.dirty
            ),
            Err(e) => format!("error {e}"),
        }
    }

    /// What the patterns make of a constraint that is one plain constraint.
    fn through_patterns(c: &str) -> Result<Constraint, String> {
        let r = regexes();
        assert!(r.valid.is_match(c), "{c:?} is valid");
        let found: Vec<&str> = r.find.find_iter(c).map(|m| m.as_str()).collect();
        assert_eq!(found.len(), 1, "{c:?}: {found:?}");
        parse_constraint(found[0])
    }

    fn texts() -> impl Strategy<Value = String> {
        proptest::collection::vec(
            prop::sample::select(vec![
                "v",
                "0",
                "1",
                "21",
                "007",
                ".",
                "-",
                "+",
                "a",
                "Z",
                "x",
                "*",
                " ",
                "\t",
                "=",
                ">",
                "<",
                "!",
                "~",
                "^",
                "|",
                ",",
                "99999999999999999999",
            ]),
            0..12,
        )
        .prop_map(|parts| parts.concat())
    }

    /// Mostly plain constraints: an operator and a version made of parts, with noise.
    fn constraints() -> impl Strategy<Value = String> {
        let op = prop::sample::select(vec![
            "", "=", "!=", ">", "<", ">=", "=>", "<=", "=<", "~", "~>", "^", ">>", "=!",
        ]);
        let space = prop::sample::select(vec!["", " ", "  ", "\t"]);
        let number = prop::sample::select(vec!["0", "1", "21", "007", "x", "99999999999999999999"]);
        let dotted = proptest::collection::vec(number.clone(), 0..3)
            .prop_map(|parts| parts.iter().map(|p| format!(".{p}")).collect::<String>());
        let ids =
            prop::sample::select(vec!["", "-0", "-rc.1", "-a..b", "-", "+b.7", "-x-y+z", "+"]);
        let noise = prop::sample::select(vec!["", "", "", "", " ", "|", ",", " - 2", ".", "v"]);
        (
            space.clone(),
            op,
            space.clone(),
            prop::bool::ANY,
            number,
            dotted,
            ids,
            noise,
            space,
        )
            .prop_map(|(a, op, b, v, major, dotted, ids, noise, c)| {
                let v = if v { "v" } else { "" };
                format!("{a}{op}{b}{v}{major}{dotted}{ids}{noise}{c}")
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(20_000))]

        #[test]
        fn plain_constraints_among_noise_read_as_the_patterns(s in constraints()) {
            if let Some(plain) = plain_constraint(&s) {
                prop_assert_eq!(shown(&plain), shown(&through_patterns(&s)), "{:?}", s);
            }
        }

        #[test]
        fn version_parts_read_as_the_pattern(s in texts()) {
            let by_hand = version_parts(&s).map(|p| {
                (p.major.to_string(), p.minor.map(String::from), p.patch.map(String::from), p.pre.to_string(), p.meta.to_string())
            });
            let pattern = version_pattern().captures(&s).map(|m| {
                let g = |i: usize| m.get(i).map(|x| x.as_str().to_string());
                (g(1).unwrap_or_default(), g(2), g(3), g(5).unwrap_or_default(), g(8).unwrap_or_default())
            });
            prop_assert_eq!(by_hand, pattern, "{:?}", s);
        }

        #[test]
        fn plain_constraints_read_as_the_patterns(s in texts()) {
            if let Some(plain) = plain_constraint(&s) {
                prop_assert_eq!(shown(&plain), shown(&through_patterns(&s)), "{:?}", s);
            }
        }
    }

    #[test]
    fn charts_constraints_take_the_plain_reading() {
        for c in [
            ">=1.21-0",
            ">= 1.19-0",
            "<1.25.0-0",
            "~1.2",
            "^ v1.2.3-rc.1+b.7",
            "1",
        ] {
            let plain = plain_constraint(c).expect("plain");
            assert_eq!(shown(&plain), shown(&through_patterns(c)), "{c}");
        }
        for c in [">=1.2 <2", "1.x", "1 - 2", "1 || 2", ">=1,<2", "", ">>1"] {
            assert!(plain_constraint(c).is_none(), "{c}");
        }
    }
}
