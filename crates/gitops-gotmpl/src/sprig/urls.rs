//! Sprig's `urlParse` and `urlJoin`, with Go's `net/url` parsing and escaping rules.

use crate::{Dict, Function, Functions, Ty, Value, gofmt};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Path,
    Host,
    UserPassword,
    Fragment,
}

fn should_escape(c: u8, mode: Mode) -> bool {
    if c.is_ascii_alphanumeric() {
        return false;
    }
    if mode == Mode::Host && b"!$&'()*+,;=:[]<>\"".contains(&c) {
        return false;
    }
    match c {
        b'-' | b'_' | b'.' | b'~' => return false,
        b'$' | b'&' | b'+' | b',' | b'/' | b':' | b';' | b'=' | b'?' | b'@' => {
            return match mode {
                Mode::Path => c == b'?',
                Mode::UserPassword => matches!(c, b'@' | b'/' | b'?' | b':'),
                Mode::Fragment => false,
                Mode::Host => true,
            };
        }
        _ => {}
    }
    if mode == Mode::Fragment && matches!(c, b'!' | b'(' | b')' | b'*') {
        return false;
    }
    true
}

fn escape(s: &str, mode: Mode) -> String {
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        if should_escape(b, mode) {
            out.push_str(&format!("%{b:02X}"));
        } else {
            out.push(b as char);
        }
    }
    out
}

fn unescape(s: &str, mode: Mode) -> Result<String, String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = s
                .get(i + 1..i + 3)
                .filter(|h| h.bytes().all(|c| c.is_ascii_hexdigit()));
            let Some(hex) = hex else {
                let bad = s.get(i..(i + 3).min(s.len())).unwrap_or("%");
                return Err(format!("invalid URL escape {}", gofmt::quote(bad, false)));
            };
            out.push(u8::from_str_radix(hex, 16).map_err(|e| e.to_string())?);
            i += 3;
        } else {
            if mode == Mode::Host && b[i] < 0x80 && should_escape(b[i], Mode::Host) {
                return Err(format!(
                    "invalid character {} in host name",
                    gofmt::quote(&(b[i] as char).to_string(), false)
                ));
            }
            out.push(b[i]);
            i += 1;
        }
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}

#[derive(Default)]
struct Url {
    scheme: String,
    opaque: String,
    user: Option<(String, Option<String>)>,
    host: String,
    path: String,
    raw_path: String,
    force_query: bool,
    raw_query: String,
    fragment: String,
    raw_fragment: String,
}

fn user_string(user: &(String, Option<String>)) -> String {
    let mut s = escape(&user.0, Mode::UserPassword);
    if let Some(p) = &user.1 {
        s.push(':');
        s.push_str(&escape(p, Mode::UserPassword));
    }
    s
}

fn get_scheme(raw: &str) -> Result<(&str, &str), String> {
    for (i, c) in raw.bytes().enumerate() {
        match c {
            b'a'..=b'z' | b'A'..=b'Z' => {}
            b'0'..=b'9' | b'+' | b'-' | b'.' if i == 0 => return Ok(("", raw)),
            b'0'..=b'9' | b'+' | b'-' | b'.' => {}
            b':' if i == 0 => return Err("missing protocol scheme".into()),
            b':' => return Ok((&raw[..i], &raw[i + 1..])),
            _ => return Ok(("", raw)),
        }
    }
    Ok(("", raw))
}

fn parse_host(host: &str) -> Result<String, String> {
    let port_start = if host.starts_with('[') {
        let end = host.rfind(']').ok_or("missing ']' in host")?;
        Some(end + 1).filter(|e| *e < host.len())
    } else {
        host.rfind(':')
    };
    if let Some(p) = port_start {
        let port = &host[p..];
        if !port.starts_with(':') || !port[1..].bytes().all(|c| c.is_ascii_digit()) {
            return Err(format!(
                "invalid port {} after host",
                gofmt::quote(port, false)
            ));
        }
    }
    unescape(host, Mode::Host)
}

fn parse(raw: &str) -> Result<Url, String> {
    let (u, frag) = match raw.split_once('#') {
        Some((u, f)) => (u, Some(f)),
        None => (raw, None),
    };
    let wrap = |url: &str, e: String| format!("parse {}: {e}", gofmt::quote(url, false));
    let mut url = parse_no_fragment(u).map_err(|e| wrap(u, e))?;
    if let Some(f) = frag {
        url.fragment = unescape(f, Mode::Fragment).map_err(|e| wrap(raw, e))?;
        url.raw_fragment = if escape(&url.fragment, Mode::Fragment) == f {
            String::new()
        } else {
            f.to_string()
        };
    }
    Ok(url)
}

fn parse_no_fragment(raw: &str) -> Result<Url, String> {
    if raw.bytes().any(|c| c < 0x20 || c == 0x7f) {
        return Err("net/url: invalid control character in URL".into());
    }
    let mut url = Url::default();
    if raw == "*" {
        url.path = "*".into();
        return Ok(url);
    }
    let (scheme, mut rest) = get_scheme(raw)?;
    url.scheme = scheme.to_ascii_lowercase();
    if rest.ends_with('?') && rest.matches('?').count() == 1 {
        url.force_query = true;
        rest = &rest[..rest.len() - 1];
    } else if let Some((r, q)) = rest.split_once('?') {
        url.raw_query = q.to_string();
        rest = r;
    }
    if !rest.starts_with('/') {
        if !url.scheme.is_empty() {
            url.opaque = rest.to_string();
            return Ok(url);
        }
        if rest.split('/').next().is_some_and(|seg| seg.contains(':')) {
            return Err("first path segment in URL cannot contain colon".into());
        }
    }
    if (!url.scheme.is_empty() || !rest.starts_with("///")) && rest.starts_with("//") {
        let auth_and_path = &rest[2..];
        let (authority, path) = match auth_and_path.find('/') {
            Some(i) => (&auth_and_path[..i], &auth_and_path[i..]),
            None => (auth_and_path, ""),
        };
        let (userinfo, host) = match authority.rfind('@') {
            Some(i) => (Some(&authority[..i]), &authority[i + 1..]),
            None => (None, authority),
        };
        url.host = parse_host(host)?;
        if let Some(ui) = userinfo {
            if !ui
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || b"-._:~!$&'()*+,;=%@".contains(&c))
            {
                return Err("net/url: invalid userinfo".into());
            }
            url.user = Some(match ui.split_once(':') {
                Some((name, pass)) => (
                    unescape(name, Mode::UserPassword)?,
                    Some(unescape(pass, Mode::UserPassword)?),
                ),
                None => (unescape(ui, Mode::UserPassword)?, None),
            });
        }
        rest = path;
    }
    url.path = unescape(rest, Mode::Path)?;
    url.raw_path = if escape(&url.path, Mode::Path) == rest {
        String::new()
    } else {
        rest.to_string()
    };
    Ok(url)
}

impl Url {
    fn escaped_path(&self) -> String {
        if !self.raw_path.is_empty()
            && unescape(&self.raw_path, Mode::Path).is_ok_and(|p| p == self.path)
        {
            return self.raw_path.clone();
        }
        if self.path == "*" {
            return "*".into();
        }
        escape(&self.path, Mode::Path)
    }

    /// Go's `URL.String()`.
    fn string(&self) -> String {
        let mut out = String::new();
        if !self.scheme.is_empty() {
            out.push_str(&self.scheme);
            out.push(':');
        }
        if !self.opaque.is_empty() {
            out.push_str(&self.opaque);
        } else {
            if !self.scheme.is_empty() || !self.host.is_empty() || self.user.is_some() {
                if !self.host.is_empty() || !self.path.is_empty() || self.user.is_some() {
                    out.push_str("//");
                }
                if let Some(u) = &self.user {
                    out.push_str(&user_string(u));
                    out.push('@');
                }
                out.push_str(&escape(&self.host, Mode::Host));
            }
            let path = self.escaped_path();
            if !path.is_empty() && !path.starts_with('/') && !self.host.is_empty() {
                out.push('/');
            }
            if out.is_empty() && path.split('/').next().is_some_and(|s| s.contains(':')) {
                out.push_str("./");
            }
            out.push_str(&path);
        }
        if self.force_query || !self.raw_query.is_empty() {
            out.push('?');
            out.push_str(&self.raw_query);
        }
        if !self.fragment.is_empty() {
            out.push('#');
            out.push_str(&escape(&self.fragment, Mode::Fragment));
        }
        out
    }
}

/// `URL.Hostname()`: the host without its port and IPv6 brackets.
fn hostname(host: &str) -> String {
    let h = if let Some(rest) = host.strip_prefix('[') {
        rest.split(']').next().unwrap_or_default()
    } else {
        host.rsplit_once(':').map_or(host, |(h, _)| h)
    };
    h.to_string()
}

pub(super) fn register(f: &mut Functions) {
    f.insert(
        "urlParse",
        Function::new(&[Ty::String], |a| {
            let url = parse(a[0].as_str().unwrap_or_default())
                .map_err(|e| format!("unable to parse url: {e}"))?;
            let d = Dict::new();
            d.insert("scheme", Value::String(url.scheme.clone()));
            d.insert("host", Value::String(url.host.clone()));
            d.insert("hostname", Value::String(hostname(&url.host)));
            d.insert("path", Value::String(url.path.clone()));
            d.insert("query", Value::String(url.raw_query.clone()));
            d.insert("opaque", Value::String(url.opaque.clone()));
            d.insert("fragment", Value::String(url.fragment.clone()));
            d.insert(
                "userinfo",
                Value::String(url.user.as_ref().map(user_string).unwrap_or_default()),
            );
            Ok(Value::Map(d))
        }),
    );
    f.insert(
        "urlJoin",
        Function::new(&[Ty::Map], |a| {
            let Value::Map(d) = &a[0] else {
                return Ok(Value::string(""));
            };
            // Sprig's metaString: a missing key is "", a non-string value panics.
            let get = |k: &str| -> Result<String, String> {
                match d.get(k) {
                    None => Ok(String::new()),
                    Some(Value::String(s)) => Ok(s),
                    Some(other) => Err(format!(
                        "unable to parse {k} key, must be of type string, but {} found",
                        super::lists::kind(&other)
                    )),
                }
            };
            let mut url = Url {
                scheme: get("scheme")?,
                host: get("host")?,
                path: get("path")?,
                raw_query: get("query")?,
                opaque: get("opaque")?,
                fragment: get("fragment")?,
                ..Url::default()
            };
            let userinfo = get("userinfo")?;
            if !userinfo.is_empty() {
                let parsed = parse(&format!("proto://{userinfo}@host"))
                    .map_err(|e| format!("unable to parse userinfo in dict: {e}"))?;
                url.user = parsed.user;
            }
            Ok(Value::String(url.string()))
        }),
    );
}
