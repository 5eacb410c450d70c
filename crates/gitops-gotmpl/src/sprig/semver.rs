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
    version: Regex,
    constraint: Regex,
    range: Regex,
    find: Regex,
    valid: Regex,
}

fn regexes() -> &'static Regexes {
    static R: OnceLock<Regexes> = OnceLock::new();
    R.get_or_init(|| {
        let build = |s: &str| Regex::new(s).expect("the semver patterns are valid because they are constants");
        Regexes {
            version: build(r"^v?([0-9]+)(\.[0-9]+)?(\.[0-9]+)?(-([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?(\+([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?$"),
            constraint: build(&format!(r"^\s*({OPS})\s*({CV})\s*$")),
            range: build(&format!(r"\s*({CV})\s+-\s+({CV})\s*")),
            find: build(&format!(r"({OPS})\s*({CV})")),
            valid: build(&format!(r"^(\s*({OPS})\s*({CV})\s*)((?:\s+|,\s*)({OPS})\s*({CV})\s*)*$")),
        }
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
        let m = regexes()
            .version
            .captures(s)
            .ok_or("invalid semantic version")?;
        let seg = |i: usize| -> Result<u64, String> {
            match m.get(i) {
                None => Ok(0),
                Some(x) => x
                    .as_str()
                    .trim_start_matches('.')
                    .parse()
                    .map_err(|e| format!("Error parsing version segment: {e}")),
            }
        };
        let pre = m.get(5).map_or("", |x| x.as_str()).to_string();
        for part in pre.split('.') {
            if part.len() > 1 && part.starts_with('0') && part.bytes().all(|b| b.is_ascii_digit()) {
                return Err("version segment starts with 0".into());
            }
        }
        Ok(Version {
            major: seg(1)?,
            minor: seg(2)?,
            patch: seg(3)?,
            pre,
            meta: m.get(8).map_or("", |x| x.as_str()).to_string(),
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
    let (major, minor, patch, pre) = (g(3), g(4), g(5), g(6));
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
        g(2).to_string()
    };
    let con = Version::parse(&ver).map_err(|_| "constraint Parser Error".to_string())?;
    Ok(Constraint {
        op: g(1).to_string(),
        con,
        minor_dirty,
        patch_dirty,
        dirty,
    })
}

/// A constraint set: OR of ANDs.
struct Constraints(Vec<Vec<Constraint>>);

impl Constraints {
    fn parse(c: &str) -> Result<Constraints, String> {
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
