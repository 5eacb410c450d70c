//! Sprig's date functions over a `time.Time` host value, with Go's layout formatting
//! (`2006-01-02T15:04:05Z07:00`, `Jan _2 3:04PM`, `.000`, …). Zones: `UTC`, and `Local`, which
//! is UTC here (a library reads no environment); other zone names fail instead of guessing.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::{Function, Functions, Object, Ty, Value};

/// An instant with the offset and zone name it is shown in.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Time {
    secs: i64,
    nanos: u32,
    offset: i32,
    /// The zone's name where it is not derived from the offset (a decoder's named zone).
    zone: Option<&'static str>,
}

impl Time {
    fn now() -> Time {
        let d = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        Time {
            secs: d.as_secs() as i64,
            nanos: d.subsec_nanos(),
            offset: 0,
            zone: None,
        }
    }

    fn unix(secs: i64) -> Time {
        Time {
            secs,
            nanos: 0,
            offset: 0,
            zone: None,
        }
    }

    /// Go's zero time, 0001-01-01 00:00:00 UTC.
    fn zero() -> Time {
        Time {
            secs: -62_135_596_800,
            nanos: 0,
            offset: 0,
            zone: None,
        }
    }

    fn zone_name(&self) -> &'static str {
        if let Some(zone) = self.zone {
            return zone;
        }
        if self.offset == 0 { "UTC" } else { "" }
    }
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian.
pub(super) fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn is_leap(y: i64) -> bool {
    y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const DAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];

struct Parts {
    year: i64,
    month: u32,
    day: u32,
    yday: u32,
    wday: usize,
    hour: u32,
    min: u32,
    sec: u32,
}

fn parts(t: &Time) -> Parts {
    let local = t.secs + i64::from(t.offset);
    let days = local.div_euclid(86_400);
    let sod = local.rem_euclid(86_400) as u32;
    let (year, month, day) = civil(days);
    let cum = [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334];
    let leap = u32::from(month > 2 && is_leap(year));
    Parts {
        year,
        month,
        day,
        yday: cum[(month - 1) as usize] + day + leap,
        wday: (days + 4).rem_euclid(7) as usize,
        hour: sod / 3600,
        min: sod / 60 % 60,
        sec: sod % 60,
    }
}

fn pad(out: &mut String, v: i64, width: usize, fill: char) {
    let s = v.unsigned_abs().to_string();
    if v < 0 {
        out.push('-');
    }
    for _ in s.len()..width {
        out.push(fill);
    }
    out.push_str(&s);
}

/// A layout element, as Go's `nextStdChunk` finds them.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Std {
    LongMonth,
    Month,
    NumMonth,
    ZeroMonth,
    LongWeekDay,
    WeekDay,
    Day,
    UnderDay,
    ZeroDay,
    UnderYearDay,
    ZeroYearDay,
    Hour,
    Hour12,
    ZeroHour12,
    Minute,
    ZeroMinute,
    Second,
    ZeroSecond,
    LongYear,
    Year,
    PM,
    Pm,
    TZ,
    /// `Z`-prefixed (ISO 8601: `Z` for UTC) or not, and the form after the sign.
    Offset(bool, &'static str),
    /// `.000` / `.999` (`,` too): the separator, digits, and whether trailing zeros go.
    Frac(u8, usize, bool),
}

/// Splits `layout` at its first element: (literal prefix, element, rest).
fn next_chunk(layout: &str) -> (&str, Option<(Std, usize)>) {
    let b = layout.as_bytes();
    let at = |i: usize, s: &str| layout.get(i..).is_some_and(|r| r.starts_with(s));
    let lower_next = |j: usize| b.get(j).is_some_and(u8::is_ascii_lowercase);
    for i in 0..b.len() {
        let found = match b[i] {
            b'J' if at(i, "January") => Some((Std::LongMonth, 7)),
            b'J' if at(i, "Jan") && !lower_next(i + 3) => Some((Std::Month, 3)),
            b'M' if at(i, "Monday") => Some((Std::LongWeekDay, 6)),
            b'M' if at(i, "Mon") && !lower_next(i + 3) => Some((Std::WeekDay, 3)),
            b'M' if at(i, "MST") => Some((Std::TZ, 3)),
            b'0' if b.get(i + 1).is_some_and(|d| (b'1'..=b'6').contains(d)) => Some((
                match b[i + 1] {
                    b'1' => Std::ZeroMonth,
                    b'2' => Std::ZeroDay,
                    b'3' => Std::ZeroHour12,
                    b'4' => Std::ZeroMinute,
                    b'5' => Std::ZeroSecond,
                    _ => Std::Year,
                },
                2,
            )),
            b'0' if at(i, "002") => Some((Std::ZeroYearDay, 3)),
            b'1' if at(i, "15") => Some((Std::Hour, 2)),
            b'1' => Some((Std::NumMonth, 1)),
            b'2' if at(i, "2006") => Some((Std::LongYear, 4)),
            b'2' => Some((Std::Day, 1)),
            // "_2006" is a literal "_" and a year.
            b'_' if at(i, "_2006") => return (&layout[..i + 1], Some((Std::LongYear, 4))),
            b'_' if at(i, "_2") => Some((Std::UnderDay, 2)),
            b'_' if at(i, "__2") => Some((Std::UnderYearDay, 3)),
            b'3' => Some((Std::Hour12, 1)),
            b'4' => Some((Std::Minute, 1)),
            b'5' => Some((Std::Second, 1)),
            b'P' if at(i, "PM") => Some((Std::PM, 2)),
            b'p' if at(i, "pm") => Some((Std::Pm, 2)),
            c @ (b'-' | b'Z') => ["070000", "07:00:00", "0700", "07:00", "07"]
                .iter()
                .find(|f| at(i + 1, f))
                .map(|f| (Std::Offset(c == b'Z', f), 1 + f.len())),
            c @ (b'.' | b',') if b.get(i + 1).is_some_and(|d| *d == b'0' || *d == b'9') => {
                let ch = b[i + 1];
                let mut j = i + 1;
                while j < b.len() && b[j] == ch {
                    j += 1;
                }
                if b.get(j).is_some_and(u8::is_ascii_digit) {
                    None
                } else {
                    Some((Std::Frac(c, j - i - 1, ch == b'9'), j - i))
                }
            }
            _ => None,
        };
        if let Some(f) = found {
            return (&layout[..i], Some(f));
        }
    }
    (layout, None)
}

/// Go's `Time.Format`.
pub(crate) fn format(t: &Time, layout: &str) -> String {
    let p = parts(t);
    let mut out = String::new();
    let mut rest = layout;
    let hour12 = i64::from(if p.hour % 12 == 0 { 12 } else { p.hour % 12 });
    loop {
        let (prefix, chunk) = next_chunk(rest);
        out.push_str(prefix);
        let Some((std, len)) = chunk else {
            return out;
        };
        rest = &rest[prefix.len() + len..];
        match std {
            Std::LongMonth => out.push_str(MONTHS[(p.month - 1) as usize]),
            Std::Month => out.push_str(&MONTHS[(p.month - 1) as usize][..3]),
            Std::NumMonth => pad(&mut out, i64::from(p.month), 0, '0'),
            Std::ZeroMonth => pad(&mut out, i64::from(p.month), 2, '0'),
            Std::LongWeekDay => out.push_str(DAYS[p.wday]),
            Std::WeekDay => out.push_str(&DAYS[p.wday][..3]),
            Std::Day => pad(&mut out, i64::from(p.day), 0, '0'),
            Std::UnderDay => pad(&mut out, i64::from(p.day), 2, ' '),
            Std::ZeroDay => pad(&mut out, i64::from(p.day), 2, '0'),
            Std::UnderYearDay => pad(&mut out, i64::from(p.yday), 3, ' '),
            Std::ZeroYearDay => pad(&mut out, i64::from(p.yday), 3, '0'),
            Std::Hour => pad(&mut out, i64::from(p.hour), 2, '0'),
            Std::Hour12 => pad(&mut out, hour12, 0, '0'),
            Std::ZeroHour12 => pad(&mut out, hour12, 2, '0'),
            Std::Minute => pad(&mut out, i64::from(p.min), 0, '0'),
            Std::ZeroMinute => pad(&mut out, i64::from(p.min), 2, '0'),
            Std::Second => pad(&mut out, i64::from(p.sec), 0, '0'),
            Std::ZeroSecond => pad(&mut out, i64::from(p.sec), 2, '0'),
            Std::LongYear => pad(&mut out, p.year, 4, '0'),
            Std::Year => pad(&mut out, p.year.rem_euclid(100), 2, '0'),
            Std::PM => out.push_str(if p.hour >= 12 { "PM" } else { "AM" }),
            Std::Pm => out.push_str(if p.hour >= 12 { "pm" } else { "am" }),
            Std::TZ => {
                let name = t.zone_name();
                if name.is_empty() {
                    let z = t.offset / 60;
                    out.push(if z < 0 { '-' } else { '+' });
                    pad(&mut out, i64::from(z.abs() / 60), 2, '0');
                    pad(&mut out, i64::from(z.abs() % 60), 2, '0');
                } else {
                    out.push_str(name);
                }
            }
            Std::Offset(iso, form) => {
                if iso && t.offset == 0 {
                    out.push('Z');
                } else {
                    let off = t.offset;
                    out.push(if off < 0 { '-' } else { '+' });
                    let a = off.abs();
                    pad(&mut out, i64::from(a / 3600), 2, '0');
                    if form.len() > 2 {
                        if form.contains(':') {
                            out.push(':');
                        }
                        pad(&mut out, i64::from(a / 60 % 60), 2, '0');
                    }
                    if form.len() > 5 {
                        if form.contains(':') {
                            out.push(':');
                        }
                        pad(&mut out, i64::from(a % 60), 2, '0');
                    }
                }
            }
            Std::Frac(sep, n, trim) => {
                let digits = format!("{:09}", t.nanos);
                let mut frac = digits[..n.min(9)].to_string();
                if trim {
                    while frac.ends_with('0') {
                        frac.pop();
                    }
                }
                if !frac.is_empty() {
                    out.push(sep as char);
                    out.push_str(&frac);
                }
            }
        }
    }
}

/// Days from 1970-01-01 to a civil date.
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (i64::from(m) + 9) % 12;
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Go's `time.Parse` (in UTC, which is `Local` here) for the layout elements above.
fn parse(layout: &str, value: &str) -> Result<Time, String> {
    // Go's ParseError: range and extra-text errors do not name the layout.
    let err = |what: &str| format!("parsing time {}: {what}", crate::gofmt::quote(value, false));
    let cannot = |v: &str, elem: &str| {
        format!(
            "parsing time {} as {}: cannot parse {} as {}",
            crate::gofmt::quote(value, false),
            crate::gofmt::quote(layout, false),
            crate::gofmt::quote(v, false),
            crate::gofmt::quote(elem, false)
        )
    };
    let (mut year, mut month, mut day, mut hour, mut min, mut sec) =
        (1i64, 1u32, 1u32, 0u32, 0u32, 0u32);
    let (mut nanos, mut offset, mut pm, mut am) = (0u32, 0i32, false, false);
    let mut rest_layout = layout;
    let mut v = value;
    // Leading digits of v, at most `max`, at least `min`.
    fn num(v: &str, min: usize, max: usize) -> Option<(u32, &str)> {
        let n = v.bytes().take(max).take_while(u8::is_ascii_digit).count();
        if n < min {
            return None;
        }
        Some((v[..n].parse().ok()?, &v[n..]))
    }
    loop {
        let (prefix, chunk) = next_chunk(rest_layout);
        let Some(after) = v.strip_prefix(prefix) else {
            return Err(cannot(v, prefix));
        };
        v = after;
        let Some((std, len)) = chunk else {
            if !v.is_empty() {
                return Err(err(&format!(
                    "extra text: {}",
                    crate::gofmt::quote(v, false)
                )));
            }
            break;
        };
        let elem = &rest_layout[prefix.len()..prefix.len() + len];
        rest_layout = &rest_layout[prefix.len() + len..];
        let bad = || cannot(v, elem);
        match std {
            Std::LongYear => {
                let (y, r) = num(v, 4, 4).ok_or_else(bad)?;
                year = i64::from(y);
                v = r;
            }
            Std::Year => {
                let (y, r) = num(v, 2, 2).ok_or_else(bad)?;
                year = i64::from(y) + if y >= 69 { 1900 } else { 2000 };
                v = r;
            }
            Std::LongMonth | Std::Month => {
                let i = MONTHS
                    .iter()
                    .position(|m| {
                        let name = if std == Std::Month { &m[..3] } else { m };
                        v.get(..name.len())
                            .is_some_and(|p| p.eq_ignore_ascii_case(name))
                    })
                    .ok_or_else(bad)?;
                let n = if std == Std::Month {
                    3
                } else {
                    MONTHS[i].len()
                };
                month = i as u32 + 1;
                v = &v[n..];
            }
            Std::NumMonth | Std::ZeroMonth => {
                let (m, r) =
                    num(v, if std == Std::ZeroMonth { 2 } else { 1 }, 2).ok_or_else(bad)?;
                if !(1..=12).contains(&m) {
                    return Err(err("month out of range"));
                }
                month = m;
                v = r;
            }
            Std::LongWeekDay | Std::WeekDay => {
                let i = DAYS
                    .iter()
                    .position(|d| {
                        let name = if std == Std::WeekDay { &d[..3] } else { d };
                        v.get(..name.len())
                            .is_some_and(|p| p.eq_ignore_ascii_case(name))
                    })
                    .ok_or_else(bad)?;
                v = &v[if std == Std::WeekDay {
                    3
                } else {
                    DAYS[i].len()
                }..];
            }
            Std::Day | Std::UnderDay | Std::ZeroDay => {
                if std == Std::UnderDay {
                    v = v.strip_prefix(' ').unwrap_or(v);
                }
                let (d, r) = num(v, if std == Std::ZeroDay { 2 } else { 1 }, 2).ok_or_else(bad)?;
                day = d;
                v = r;
            }
            Std::UnderYearDay | Std::ZeroYearDay => {
                let (_, r) = num(v.trim_start_matches(' '), 1, 3).ok_or_else(bad)?;
                v = r;
            }
            Std::Hour => {
                let (h, r) = num(v, 1, 2).ok_or_else(bad)?;
                if h > 23 {
                    return Err(err("hour out of range"));
                }
                hour = h;
                v = r;
            }
            Std::Hour12 | Std::ZeroHour12 => {
                let (h, r) =
                    num(v, if std == Std::ZeroHour12 { 2 } else { 1 }, 2).ok_or_else(bad)?;
                if h > 12 {
                    return Err(err("hour out of range"));
                }
                hour = h;
                v = r;
            }
            Std::Minute | Std::ZeroMinute => {
                let (m, r) =
                    num(v, if std == Std::ZeroMinute { 2 } else { 1 }, 2).ok_or_else(bad)?;
                if m > 59 {
                    return Err(err("minute out of range"));
                }
                min = m;
                v = r;
            }
            Std::Second | Std::ZeroSecond => {
                let (s2, r) =
                    num(v, if std == Std::ZeroSecond { 2 } else { 1 }, 2).ok_or_else(bad)?;
                if s2 > 59 {
                    return Err(err("second out of range"));
                }
                sec = s2;
                v = r;
                // A fraction the layout does not mention is accepted after seconds.
                let next_is_frac =
                    matches!(next_chunk(rest_layout), ("", Some((Std::Frac(..), _))));
                if !next_is_frac
                    && v.len() >= 2
                    && (v.starts_with('.') || v.starts_with(','))
                    && v.as_bytes()[1].is_ascii_digit()
                {
                    let n = 1 + v[1..].bytes().take_while(u8::is_ascii_digit).count();
                    let digits = &v[1..n.min(10)];
                    nanos = format!("{digits:0<9}").parse().unwrap_or(0);
                    v = &v[n..];
                }
            }
            Std::Frac(_, n, trim) => {
                let b = v.as_bytes();
                if b.first().is_none_or(|c| *c != b'.' && *c != b',') {
                    if trim {
                        continue;
                    }
                    return Err(bad());
                }
                let digits = v[1..].bytes().take_while(u8::is_ascii_digit).count();
                if (!trim && digits != n) || (trim && digits == 0) {
                    return Err(bad());
                }
                let d = &v[1..1 + digits.min(9)];
                nanos = format!("{d:0<9}").parse().unwrap_or(0);
                v = &v[1 + digits..];
            }
            Std::PM | Std::Pm => {
                if v.len() < 2 {
                    return Err(bad());
                }
                match v.get(..2) {
                    Some("PM" | "pm") => pm = true,
                    Some("AM" | "am") => am = true,
                    _ => return Err(bad()),
                }
                v = &v[2..];
            }
            Std::TZ => {
                if let Some(r) = v.strip_prefix("UTC") {
                    v = r;
                } else {
                    let n = v.bytes().take_while(u8::is_ascii_uppercase).count();
                    if !(3..=5).contains(&n) {
                        return Err(bad());
                    }
                    v = &v[n..];
                }
            }
            Std::Offset(iso, form) => {
                if iso && v.starts_with('Z') {
                    v = &v[1..];
                    continue;
                }
                let sign = match v.as_bytes().first() {
                    Some(b'+') => 1,
                    Some(b'-') => -1,
                    _ => return Err(bad()),
                };
                let mut r = &v[1..];
                let take2 = |r: &mut &str| -> Option<i32> {
                    let (x, rest) = num(r, 2, 2)?;
                    *r = rest;
                    Some(x as i32)
                };
                let colon = form.contains(':');
                let h = take2(&mut r).ok_or_else(bad)?;
                let mut m = 0;
                let mut s2 = 0;
                if form.len() > 2 {
                    if colon {
                        r = r.strip_prefix(':').ok_or_else(bad)?;
                    }
                    m = take2(&mut r).ok_or_else(bad)?;
                }
                if form.len() > 5 {
                    if colon {
                        r = r.strip_prefix(':').ok_or_else(bad)?;
                    }
                    s2 = take2(&mut r).ok_or_else(bad)?;
                }
                offset = sign * (h * 3600 + m * 60 + s2);
                v = r;
            }
        }
    }
    if pm && hour < 12 {
        hour += 12;
    } else if am && hour == 12 {
        hour = 0;
    }
    let dim = [
        31,
        if is_leap(year) { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    if day < 1 || day > dim[(month - 1) as usize] {
        return Err(err("day out of range"));
    }
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + i64::from(hour) * 3600 + i64::from(min) * 60 + i64::from(sec)
        - i64::from(offset);
    Ok(Time {
        secs,
        nanos,
        offset,
        zone: None,
    })
}

/// Go's `time.Duration.String()` of a number of nanoseconds.
fn duration_string(d: i64) -> String {
    let neg = d < 0;
    let mut u = d.unsigned_abs();
    let frac = |u: u64, prec: u32| -> (String, u64) {
        // The fraction of u / 10^prec without trailing zeros, and the integer part.
        let p = 10u64.pow(prec);
        let mut f = format!("{:0width$}", u % p, width = prec as usize);
        while f.ends_with('0') {
            f.pop();
        }
        (if f.is_empty() { f } else { format!(".{f}") }, u / p)
    };
    let mut out = if u < 1_000_000_000 {
        let (unit, prec) = match u {
            0 => return "0s".into(),
            1..=999 => ("ns", 0),
            1_000..=999_999 => ("\u{b5}s", 3),
            _ => ("ms", 6),
        };
        let (f, int) = frac(u, prec);
        format!("{int}{f}{unit}")
    } else {
        let (f, secs) = frac(u, 9);
        u = secs;
        let mut s = format!("{}{f}s", u % 60);
        u /= 60;
        if u > 0 {
            s = format!("{}m{s}", u % 60);
            u /= 60;
            if u > 0 {
                s = format!("{u}h{s}");
            }
        }
        s
    };
    if neg {
        out.insert(0, '-');
    }
    out
}

/// Go's `time.ParseDuration`, in nanoseconds.
fn parse_duration(s: &str) -> Result<i128, String> {
    let err = || format!("time: invalid duration {}", crate::gofmt::quote(s, false));
    let (neg, mut rest) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if rest == "0" {
        return Ok(0);
    }
    if rest.is_empty() {
        return Err(err());
    }
    let mut total: f64 = 0.0;
    while !rest.is_empty() {
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(err)?;
        let num: f64 = rest[..num_end].parse().map_err(|_| err())?;
        rest = &rest[num_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = match &rest[..unit_end] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            "" => {
                return Err(format!(
                    "time: missing unit in duration {}",
                    crate::gofmt::quote(s, false)
                ));
            }
            u => {
                return Err(format!(
                    "time: unknown unit {} in duration {}",
                    crate::gofmt::quote(u, false),
                    crate::gofmt::quote(s, false)
                ));
            }
        };
        total += num * unit;
        rest = &rest[unit_end..];
    }
    let ns = total.round() as i128;
    Ok(if neg { -ns } else { ns })
}

#[derive(Debug)]
struct TimeObject(Time);

impl Object for TimeObject {
    fn type_name(&self) -> &str {
        "time.Time"
    }

    fn method(&self, name: &str) -> Option<Function> {
        let t = self.0;
        let p = parts(&t);
        let int = move |v: i64| Function::new(&[], move |_| Ok(Value::Int(v)));
        let int64 = move |v: i64| Function::new(&[], move |_| Ok(Value::Int64(v)));
        Some(match name {
            "Unix" => int64(t.secs),
            "UnixNano" => int64(
                t.secs
                    .saturating_mul(1_000_000_000)
                    .saturating_add(i64::from(t.nanos)),
            ),
            "Year" => int(p.year),
            "YearDay" => int(i64::from(p.yday)),
            "Day" => int(i64::from(p.day)),
            "Hour" => int(i64::from(p.hour)),
            "Minute" => int(i64::from(p.min)),
            "Second" => int(i64::from(p.sec)),
            "Nanosecond" => int(i64::from(t.nanos)),
            "UTC" => Function::new(&[], move |_| {
                Ok(time_value(Time {
                    offset: 0,
                    zone: None,
                    ..t
                }))
            }),
            "Format" => Function::new(&[Ty::String], move |a| {
                Ok(Value::String(format(&t, a[0].as_str().unwrap_or_default())))
            }),
            _ => return None,
        })
    }

    fn display(&self) -> String {
        format(&self.0, "2006-01-02 15:04:05.999999999 -0700 MST")
    }

    fn as_any(&self) -> Option<&dyn std::any::Any> {
        Some(self)
    }
}

/// A `time.Time` value for the instant `secs`/`nanos` after the Unix epoch, shown at
/// `offset_seconds` east of UTC, in the zone named `zone` (`None`: `UTC` at offset 0, else
/// unnamed): what a host decoder (Helm's `fromToml`) hands to templates, so that printing it
/// and the date functions behave as they do on Go's own times.
pub fn time_at(secs: i64, nanos: u32, offset_seconds: i32, zone: Option<&'static str>) -> Value {
    time_value(Time {
        secs,
        nanos: nanos.min(999_999_999),
        offset: offset_seconds,
        zone,
    })
}

/// Seconds from the Unix epoch to a civil date and time in UTC (for decoders that read
/// calendar fields).
pub fn unix_seconds(year: i64, month: u32, day: u32, hour: u32, minute: u32, second: u32) -> i64 {
    days_from_civil(year, month, day) * 86_400
        + i64::from(hour) * 3600
        + i64::from(minute) * 60
        + i64::from(second)
}

fn time_value(t: Time) -> Value {
    Value::Object(Arc::new(TimeObject(t)))
}

fn as_time(v: &Value) -> Option<Time> {
    match v {
        Value::Object(o) => o
            .as_any()
            .and_then(|a| a.downcast_ref::<TimeObject>())
            .map(|t| t.0),
        _ => None,
    }
}

/// Sprig's `dateInZone`: a time, or Unix seconds as an int; anything else means now.
fn date_in_zone(layout: &str, date: &Value, zone: &str) -> Result<Value, String> {
    let mut t = match date {
        Value::Int(secs) | Value::Int64(secs) => Time::unix(*secs),
        other => as_time(other).unwrap_or_else(Time::now),
    };
    // t.In(UTC).
    t.offset = 0;
    match zone {
        "UTC" | "Local" | "" => {}
        other => {
            return Err(format!(
                "time zone {} is not supported by gitops-gotmpl (only UTC)",
                crate::gofmt::quote(other, false)
            ));
        }
    }
    Ok(Value::String(format(&t, layout)))
}

pub(super) fn register(f: &mut Functions) {
    use Ty::*;
    f.insert("now", Function::new(&[], |_| Ok(time_value(Time::now()))));
    f.insert(
        "durationRound",
        Function::new(&[Any], |a| {
            let d: i128 = match &a[0] {
                Value::String(s) => parse_duration(s).unwrap_or(0),
                Value::Int64(n) => i128::from(*n),
                other => match as_time(other) {
                    Some(t) => {
                        let now = Time::now();
                        (i128::from(now.secs) - i128::from(t.secs)) * 1_000_000_000
                            + i128::from(now.nanos)
                            - i128::from(t.nanos)
                    }
                    None => 0,
                },
            };
            let u = d.unsigned_abs();
            const SEC: u128 = 1_000_000_000;
            let units: [(u128, &str); 6] = [
                (SEC * 3600 * 24 * 365, "y"),
                (SEC * 3600 * 24 * 30, "mo"),
                (SEC * 3600 * 24, "d"),
                (SEC * 3600, "h"),
                (SEC * 60, "m"),
                (SEC, "s"),
            ];
            for (size, unit) in units {
                if u > size {
                    return Ok(Value::String(format!("{}{unit}", u / size)));
                }
            }
            Ok(Value::string("0s"))
        }),
    );
    f.insert(
        "toDate",
        Function::new(&[String, String], |a| {
            let t = parse(
                a[0].as_str().unwrap_or_default(),
                a[1].as_str().unwrap_or_default(),
            );
            Ok(time_value(t.unwrap_or_else(|_| Time::zero())))
        }),
    );
    f.insert(
        "mustToDate",
        Function::new(&[String, String], |a| {
            parse(
                a[0].as_str().unwrap_or_default(),
                a[1].as_str().unwrap_or_default(),
            )
            .map(time_value)
        }),
    );
    f.insert(
        "duration",
        Function::new(&[Any], |a| {
            // Sprig reads only int64 seconds and strings; anything else is 0.
            let n = match &a[0] {
                Value::Int64(n) => *n,
                Value::String(s) => s.parse::<i64>().unwrap_or(0),
                _ => 0,
            };
            Ok(Value::String(duration_string(
                n.wrapping_mul(1_000_000_000),
            )))
        }),
    );
    f.insert(
        "date",
        Function::new(&[String, Any], |a| {
            date_in_zone(a[0].as_str().unwrap_or_default(), &a[1], "Local")
        }),
    );
    for name in ["dateInZone", "date_in_zone"] {
        f.insert(
            name,
            Function::new(&[String, Any, String], |a| {
                date_in_zone(
                    a[0].as_str().unwrap_or_default(),
                    &a[1],
                    a[2].as_str().unwrap_or_default(),
                )
            }),
        );
    }
    f.insert(
        "htmlDate",
        Function::new(&[Any], |a| date_in_zone("2006-01-02", &a[0], "Local")),
    );
    f.insert(
        "htmlDateInZone",
        Function::new(&[Any, String], |a| {
            date_in_zone("2006-01-02", &a[0], a[1].as_str().unwrap_or_default())
        }),
    );
    f.insert(
        "unixEpoch",
        Function::new(&[Any], |a| match as_time(&a[0]) {
            Some(t) => Ok(Value::String(t.secs.to_string())),
            None => Err(format!(
                "wrong type for value; expected time.Time; got {}",
                a[0].type_name()
            )),
        }),
    );
    f.insert(
        "ago",
        Function::new(&[Any], |a| {
            let then = match &a[0] {
                Value::Int(secs) | Value::Int64(secs) => Time::unix(*secs),
                other => as_time(other).unwrap_or_else(Time::now),
            };
            let secs = Time::now().secs - then.secs;
            Ok(Value::String(duration_string(
                secs.wrapping_mul(1_000_000_000),
            )))
        }),
    );
    for (name, must) in [
        ("dateModify", false),
        ("date_modify", false),
        ("mustDateModify", true),
        ("must_date_modify", true),
    ] {
        f.insert(
            name,
            Function::new(&[String, Any], move |a| {
                let Some(t) = as_time(&a[1]) else {
                    return Err(format!(
                        "wrong type for value; expected time.Time; got {}",
                        a[1].type_name()
                    ));
                };
                match parse_duration(a[0].as_str().unwrap_or_default()) {
                    Ok(ns) => {
                        let total = i128::from(t.secs) * 1_000_000_000 + i128::from(t.nanos) + ns;
                        Ok(time_value(Time {
                            secs: total.div_euclid(1_000_000_000) as i64,
                            nanos: total.rem_euclid(1_000_000_000) as u32,
                            offset: t.offset,
                            zone: t.zone,
                        }))
                    }
                    Err(e) if must => Err(e),
                    Err(_) => Ok(time_value(t)),
                }
            }),
        );
    }
}
