//! Timestamps as go-yaml reads them: Go's `time.Parse` with go-yaml's four layouts.

use std::fmt;

/// A timestamp in one of the forms go-yaml v3 accepts: `2006-1-2`,
/// `2006-1-2T15:4:5.999999999Z07:00` (also with a lowercase `t`) and `2006-1-2 15:4:5.999999999`
/// (UTC). The fraction may follow a `.` or a `,`; digits past the ninth are dropped.
///
/// It displays as RFC 3339 with nanoseconds (`2001-12-14T21:59:43.1Z`, `2024-01-01T00:00:00Z`,
/// `2024-01-01T08:00:00+05:30`): the text Go's `time.Time` marshals to, so what kustomize and
/// `sops` print for a timestamp they read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timestamp {
    year: u32,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
    nanos: u32,
    /// East of UTC.
    offset_minutes: i32,
}

impl Timestamp {
    /// Reads `s` as go-yaml's resolver does; `None` when it is not a timestamp.
    pub(crate) fn parse(s: &str) -> Option<Self> {
        let b = s.as_bytes();
        // go-yaml's quick check: exactly four digits, then `-`.
        if b.iter().take_while(|c| c.is_ascii_digit()).count() != 4 || b.get(4) != Some(&b'-') {
            return None;
        }
        let mut c = Cursor { b, i: 5 };
        let year = s[..4].parse().ok()?;
        let month = c.number(false)?;
        c.expect(b'-')?;
        let day = c.number(false)?;
        if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
            return None;
        }
        let mut t = Timestamp {
            year,
            month,
            day,
            hour: 0,
            minute: 0,
            second: 0,
            nanos: 0,
            offset_minutes: 0,
        };
        let zoned = match c.peek() {
            None => return Some(t),
            Some(b'T' | b't') => {
                c.i += 1;
                true
            }
            // A space in a Go layout stands for any run of spaces.
            Some(b' ') => {
                while c.peek() == Some(b' ') {
                    c.i += 1;
                }
                false
            }
            Some(_) => return None,
        };
        t.hour = c.number(false)?;
        c.expect(b':')?;
        t.minute = c.number(false)?;
        c.expect(b':')?;
        t.second = c.number(false)?;
        if t.hour > 23 || t.minute > 59 || t.second > 59 {
            return None;
        }
        if matches!(c.peek(), Some(b'.' | b',')) && b.get(c.i + 1).is_some_and(u8::is_ascii_digit) {
            c.i += 1;
            let start = c.i;
            while c.peek().is_some_and(|d| d.is_ascii_digit()) {
                c.i += 1;
            }
            let kept = &s[start..c.i.min(start + 9)];
            t.nanos = kept.parse::<u32>().ok()? * 10u32.pow(9 - kept.len() as u32);
        }
        if zoned && c.peek() == Some(b'Z') {
            c.i += 1;
        } else if zoned {
            let sign = match c.peek() {
                Some(b'+') => 1,
                Some(b'-') => -1,
                _ => return None,
            };
            c.i += 1;
            let hours = c.number(true)?;
            c.expect(b':')?;
            let minutes = c.number(true)?;
            // Go allows an offset of 24 hours or 60 minutes.
            if hours > 24 || minutes > 60 {
                return None;
            }
            t.offset_minutes = sign * (hours * 60 + minutes) as i32;
        }
        (c.i == b.len()).then_some(t)
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        )?;
        if self.nanos != 0 {
            let digits = format!("{:09}", self.nanos);
            write!(f, ".{}", digits.trim_end_matches('0'))?;
        }
        if self.offset_minutes == 0 {
            return f.write_str("Z");
        }
        let sign = if self.offset_minutes < 0 { '-' } else { '+' };
        let offset = self.offset_minutes.unsigned_abs();
        write!(f, "{sign}{:02}:{:02}", offset / 60, offset % 60)
    }
}

struct Cursor<'a> {
    b: &'a [u8],
    i: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn expect(&mut self, byte: u8) -> Option<()> {
        (self.peek() == Some(byte)).then(|| self.i += 1)
    }

    /// Go's `getnum`: one or two digits, or exactly two when `fixed`.
    fn number(&mut self, fixed: bool) -> Option<u32> {
        let first = self.peek().filter(u8::is_ascii_digit)?;
        self.i += 1;
        let value = u32::from(first - b'0');
        match self.peek().filter(u8::is_ascii_digit) {
            Some(second) => {
                self.i += 1;
                Some(value * 10 + u32::from(second - b'0'))
            }
            None if fixed => None,
            None => Some(value),
        }
    }
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_go_yaml_layouts() {
        for (text, rfc3339) in [
            ("2001-12-14", "2001-12-14T00:00:00Z"),
            ("2001-1-2", "2001-01-02T00:00:00Z"),
            ("2024-02-29", "2024-02-29T00:00:00Z"),
            (
                "2001-12-14t21:59:43.10-05:00",
                "2001-12-14T21:59:43.1-05:00",
            ),
            ("2001-12-14T1:2:3Z", "2001-12-14T01:02:03Z"),
            ("2001-12-14   21:59:43,5", "2001-12-14T21:59:43.5Z"),
            (
                "2001-12-14T21:59:43.1234567899Z",
                "2001-12-14T21:59:43.123456789Z",
            ),
            ("2001-12-14T21:59:43.000+00:00", "2001-12-14T21:59:43Z"),
            // Go allows an offset of up to 24 hours and 60 minutes, each.
            ("2001-12-14T21:59:43+23:60", "2001-12-14T21:59:43+24:00"),
            ("2001-12-14T21:59:43+24:60", "2001-12-14T21:59:43+25:00"),
        ] {
            let read = Timestamp::parse(text).map(|t| t.to_string());
            assert_eq!(read.as_deref(), Some(rfc3339), "{text}");
        }
    }

    #[test]
    fn rejects_what_go_rejects() {
        for s in [
            "2023-02-29",
            "2001-13-01",
            "2001-00-10",
            "20011-12-14",
            "2001-12-14T21:59:43",
            "2001-12-14T21:59",
            "2001-12-14 21:59:43Z",
            "2001-12-14T24:00:00Z",
            "2001-12-14T21:59:60Z",
            "2001-12-14T21:59:43.Z",
            "2001-12-14T21:59:43+5:00",
            "2001-12-14T21:59:43+01:0",
            "2001-12-14T21:59:43+25:00",
            "2001-12-14x",
            "2001-12-14 ",
        ] {
            assert_eq!(Timestamp::parse(s), None, "{s}");
        }
    }
}
