//! Scheduling helpers: when the next pass is due, backoff after failures, `dependsOn` order.
//!
//! Nothing here sleeps or reads a clock: functions take `now` and return due times, so a host
//! runs them on any runtime and tests run them without waiting.

use std::collections::{BTreeMap, BTreeSet};
use std::hash::{Hash, Hasher};
use std::time::{Duration, SystemTime};

/// Errors from ordering dependencies.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The `dependsOn` graph has a cycle; the names are given in cycle order.
    #[error("dependency cycle: {}", cycle.join(" -> "))]
    Cycle {
        /// The cycle, first name repeated at the end.
        cycle: Vec<String>,
    },
    /// An object depends on one that does not exist.
    #[error("{dependent} depends on {missing}, which does not exist")]
    Missing {
        /// The object with the dependency.
        dependent: String,
        /// The missing dependency.
        missing: String,
    },
}

/// A reconcile interval with jitter, as Flux spreads passes to avoid thundering herds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Interval {
    /// The nominal period.
    pub every: Duration,
    /// Fraction of `every` by which a due time may move either way (Flux's default is 0.05).
    pub jitter: f64,
}

impl Interval {
    /// An interval with Flux's default jitter of ±5 %.
    pub fn new(every: Duration) -> Self {
        Self {
            every,
            jitter: 0.05,
        }
    }

    /// Sets the jitter fraction, clamped to `0.0..=0.5` (`NaN` is no jitter).
    pub fn with_jitter(mut self, jitter: f64) -> Self {
        self.jitter = clamp_jitter(jitter);
        self
    }

    /// The delay before the next pass of the object named `key` after pass number `pass`.
    ///
    /// The jitter is a deterministic function of `key` and `pass`: objects spread evenly, and
    /// one object's delays vary from pass to pass, without a random number generator. A delay
    /// too long for a [`Duration`] is [`Duration::MAX`].
    pub fn delay(&self, key: &str, pass: u64) -> Duration {
        let unit = unit_hash(key, pass); // in [0, 1)
        // `jitter` is a public field: clamp here too, so a NaN or 7.0 set directly cannot panic.
        let offset = (unit * 2.0 - 1.0) * clamp_jitter(self.jitter); // in [-jitter, jitter)
        Duration::try_from_secs_f64(self.every.as_secs_f64() * (1.0 + offset))
            .unwrap_or(Duration::MAX)
    }

    /// The due time of the next pass after `now` (the latest representable time when the
    /// interval reaches beyond it).
    pub fn next_due(&self, now: SystemTime, key: &str, pass: u64) -> SystemTime {
        saturating_add(now, self.delay(key, pass))
    }
}

fn clamp_jitter(jitter: f64) -> f64 {
    if jitter.is_nan() {
        0.0
    } else {
        jitter.clamp(0.0, 0.5)
    }
}

/// `at + wait`, or the latest time the platform can represent on the way there.
///
/// Delays come from specs and from servers (`Retry-After`); `SystemTime + Duration` panics on
/// overflow, and "never" is the honest reading of a wait past the end of time.
fn saturating_add(at: SystemTime, wait: Duration) -> SystemTime {
    if let Some(later) = at.checked_add(wait) {
        return later;
    }
    // Binary search for the largest addable wait: at most 128 halvings of a u128 of nanoseconds.
    let (mut low, mut high) = (Duration::ZERO, wait);
    while high.saturating_sub(low) > Duration::from_nanos(1) {
        let mid = low + (high - low) / 2;
        if at.checked_add(mid).is_some() {
            low = mid;
        } else {
            high = mid;
        }
    }
    at.checked_add(low).unwrap_or(at)
}

fn unit_hash(key: &str, salt: u64) -> f64 {
    // FNV-1a is stable across Rust versions, unlike `DefaultHasher`.
    struct Fnv(u64);
    impl Hasher for Fnv {
        fn finish(&self) -> u64 {
            self.0
        }
        fn write(&mut self, bytes: &[u8]) {
            for b in bytes {
                self.0 ^= u64::from(*b);
                self.0 = self.0.wrapping_mul(0x100_0000_01b3);
            }
        }
    }
    let mut h = Fnv(0xcbf2_9ce4_8422_2325);
    key.hash(&mut h);
    salt.hash(&mut h);
    // 53 bits fit an f64 mantissa exactly.
    (h.finish() >> 11) as f64 / (1u64 << 53) as f64
}

/// Exponential backoff after consecutive failures, capped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backoff {
    /// Delay after the first failure.
    pub initial: Duration,
    /// The cap.
    pub max: Duration,
    /// Growth per failure.
    pub factor: u32,
}

impl Default for Backoff {
    /// 1 s doubling up to 5 minutes.
    fn default() -> Self {
        Self {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(300),
            factor: 2,
        }
    }
}

impl Backoff {
    /// The delay after `failures` consecutive failures (1 for the first); zero failures is zero.
    pub fn delay(&self, failures: u32) -> Duration {
        if failures == 0 {
            return Duration::ZERO;
        }
        let growth = u64::from(self.factor.max(1)).saturating_pow(failures - 1);
        let initial = u64::try_from(self.initial.as_nanos()).unwrap_or(u64::MAX);
        let nanos = initial.saturating_mul(growth);
        Duration::from_nanos(nanos).min(self.max)
    }
}

/// What a host should do with one object at a moment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Due {
    /// Run a pass now.
    Now,
    /// Wait until the given time.
    At(SystemTime),
    /// Suspended: never, until resumed.
    Suspended,
}

/// The schedule state of one reconciled object.
#[derive(Clone, Debug, PartialEq)]
pub struct Schedule {
    /// The success interval.
    pub interval: Interval,
    /// The interval after a failure (Flux's `retryInterval`), grown by `backoff`.
    pub retry: Backoff,
    /// Whether reconciling is suspended.
    pub suspended: bool,
    /// When the last pass ended.
    pub last_pass: Option<SystemTime>,
    /// Consecutive failures so far.
    pub failures: u32,
    /// Passes so far, for jitter.
    pub passes: u64,
}

impl Schedule {
    /// A schedule with the interval, default backoff, never run.
    pub fn new(interval: Interval) -> Self {
        Self {
            interval,
            retry: Backoff::default(),
            suspended: false,
            last_pass: None,
            failures: 0,
            passes: 0,
        }
    }

    /// Records the end of a pass.
    pub fn record(&mut self, at: SystemTime, succeeded: bool) {
        self.last_pass = Some(at);
        self.passes += 1;
        self.failures = if succeeded { 0 } else { self.failures + 1 };
    }

    /// When the next pass of the object named `key` is due, seen at `now`.
    pub fn due(&self, key: &str, now: SystemTime) -> Due {
        if self.suspended {
            return Due::Suspended;
        }
        let Some(last) = self.last_pass else {
            return Due::Now;
        };
        let delay = if self.failures > 0 {
            self.retry.delay(self.failures)
        } else {
            self.interval.delay(key, self.passes)
        };
        let at = saturating_add(last, delay);
        if at <= now { Due::Now } else { Due::At(at) }
    }
}

/// Orders objects so each comes after everything it depends on (`dependsOn`).
///
/// `depends_on` maps each name to its dependencies. The order is deterministic: among objects
/// whose dependencies are met, names sort alphabetically. Returns the layers: every object of
/// a layer can run in parallel once the previous layers are done.
pub fn dependency_layers(
    depends_on: &BTreeMap<String, Vec<String>>,
) -> Result<Vec<Vec<String>>, Error> {
    for (dependent, deps) in depends_on {
        if let Some(missing) = deps.iter().find(|d| !depends_on.contains_key(*d)) {
            return Err(Error::Missing {
                dependent: dependent.clone(),
                missing: missing.clone(),
            });
        }
    }
    let mut done: BTreeSet<&str> = BTreeSet::new();
    let mut layers = Vec::new();
    while done.len() < depends_on.len() {
        let layer: Vec<String> = depends_on
            .iter()
            .filter(|(name, deps)| {
                !done.contains(name.as_str()) && deps.iter().all(|d| done.contains(d.as_str()))
            })
            .map(|(name, _)| name.clone())
            .collect();
        if layer.is_empty() {
            return Err(Error::Cycle {
                cycle: find_cycle(depends_on, &done),
            });
        }
        done.extend(
            depends_on
                .keys()
                .filter(|k| layer.contains(k))
                .map(String::as_str),
        );
        layers.push(layer);
    }
    Ok(layers)
}

/// The flat order of [`dependency_layers`].
pub fn dependency_order(depends_on: &BTreeMap<String, Vec<String>>) -> Result<Vec<String>, Error> {
    Ok(dependency_layers(depends_on)?
        .into_iter()
        .flatten()
        .collect())
}

fn find_cycle(depends_on: &BTreeMap<String, Vec<String>>, done: &BTreeSet<&str>) -> Vec<String> {
    // Every remaining node has an unmet dependency, so walking unmet edges must revisit a node.
    let Some(start) = depends_on.keys().find(|k| !done.contains(k.as_str())) else {
        return Vec::new();
    };
    let mut path: Vec<&str> = vec![start];
    loop {
        let current = path[path.len() - 1];
        let next = depends_on[current]
            .iter()
            .find(|d| !done.contains(d.as_str()))
            .map(String::as_str)
            .unwrap_or(current);
        if let Some(pos) = path.iter().position(|p| *p == next) {
            let mut cycle: Vec<String> = path[pos..].iter().map(|s| (*s).to_owned()).collect();
            cycle.push(next.to_owned());
            return cycle;
        }
        path.push(next);
    }
}

/// How long an HTTP `Retry-After` value asks to wait, from `now`: delta-seconds (`120`, or `1.5`
/// as some services send) or an HTTP date (`Wed, 21 Oct 2015 07:28:00 GMT`, RFC 9110's
/// IMF-fixdate). A date in the past waits nothing; anything else is `None`, so the caller keeps
/// its own backoff.
///
/// The value comes from a server and is not trusted:
/// - only decimal digits with an optional fraction are seconds; signs, exponents (`1e300`),
///   `inf` and `NaN` are not delta-seconds and give `None`;
/// - a number of seconds too large for a [`Duration`] (`99999999999999999999999`) is
///   [`Duration::MAX`] rather than an error: the server did ask for a very long wait, and the
///   caller's cap on `Retry-After` turns that into a clear "over the cap" error;
/// - digits of a fraction past nanoseconds are ignored.
///
/// It never panics.
pub fn retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Some(wait) = delta_seconds(value) {
        return Some(wait);
    }
    let at = http_date(value)?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// `digits[.digits]`, at least one digit in all, saturating at [`Duration::MAX`].
fn delta_seconds(text: &str) -> Option<Duration> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    let digits = |t: &str| t.bytes().all(|b| b.is_ascii_digit());
    if whole.len() + fraction.len() == 0 || !digits(whole) || !digits(fraction) {
        return None;
    }
    let seconds = if whole.is_empty() {
        0
    } else {
        match whole.parse::<u64>() {
            Ok(seconds) => seconds,
            // Only digits, so the one failure left is overflow.
            Err(_) => return Some(Duration::MAX),
        }
    };
    let nanos = fraction
        .bytes()
        .chain(std::iter::repeat(b'0'))
        .take(9)
        .fold(0u32, |n, b| n * 10 + u32::from(b - b'0'));
    Some(Duration::new(seconds, nanos))
}

/// An IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`).
fn http_date(text: &str) -> Option<SystemTime> {
    let (_weekday, rest) = text.split_once(", ")?;
    let fields: Vec<&str> = rest.split(' ').collect();
    let [day, month, year, time, "GMT"] = fields.as_slice() else {
        return None;
    };
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let month = MONTHS.iter().position(|m| m == month)? as i64 + 1;
    let number = |t: &str, len: usize| -> Option<i64> {
        (t.len() == len && t.bytes().all(|b| b.is_ascii_digit()))
            .then(|| t.parse().ok())
            .flatten()
    };
    let (day, year) = (number(day, 2)?, number(year, 4)?);
    let mut clock = time.split(':');
    let (hour, minute, second) = (
        number(clock.next()?, 2)?,
        number(clock.next()?, 2)?,
        number(clock.next()?, 2)?,
    );
    if clock.next().is_some() || !(1..=31).contains(&day) || hour > 23 || minute > 59 || second > 60
    {
        return None;
    }
    // Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let year_of_era = y - era * 400;
    let day_of_year = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    let days = era * 146_097 + day_of_era - 719_468;
    let seconds = days * 86_400 + hour * 3_600 + minute * 60 + second;
    let seconds = u64::try_from(seconds).ok()?;
    SystemTime::UNIX_EPOCH.checked_add(Duration::from_secs(seconds))
}

/// A duration as Go's `time.Duration` prints it (`581.337347ms`, `10m0s`, `1h0m0s`), the form
/// Flux's controllers write in events and messages.
pub fn go_duration(duration: Duration) -> String {
    /// `value / unit` with the remainder as trimmed decimals (`1.5`, `2`).
    fn scaled(value: u128, unit: u128, digits: usize) -> String {
        let (whole, rest) = (value / unit, value % unit);
        if rest == 0 {
            return whole.to_string();
        }
        let fraction = format!("{rest:0digits$}");
        format!("{whole}.{}", fraction.trim_end_matches('0'))
    }
    let nanos = duration.as_nanos();
    match nanos {
        0 => "0s".to_string(),
        n if n < 1_000 => format!("{n}ns"),
        n if n < 1_000_000 => format!("{}µs", scaled(n, 1_000, 3)),
        n if n < 1_000_000_000 => format!("{}ms", scaled(n, 1_000_000, 6)),
        n => {
            let seconds = n / 1_000_000_000;
            let (hours, minutes) = (seconds / 3600, seconds % 3600 / 60);
            let rest = n - (hours * 3600 + minutes * 60) * 1_000_000_000;
            let mut out = String::new();
            if hours > 0 {
                out.push_str(&format!("{hours}h"));
            }
            if hours > 0 || minutes > 0 {
                out.push_str(&format!("{minutes}m"));
            }
            out.push_str(&format!("{}s", scaled(rest, 1_000_000_000, 9)));
            out
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn go_durations_print_as_flux_writes_them() {
        let cases = [
            (Duration::ZERO, "0s"),
            (Duration::from_nanos(999), "999ns"),
            (Duration::from_nanos(1_500), "1.5µs"),
            (Duration::from_nanos(581_337_347), "581.337347ms"),
            (Duration::from_millis(73), "73ms"),
            (Duration::from_nanos(1_052_415_213), "1.052415213s"),
            (Duration::from_secs(600), "10m0s"),
            (Duration::from_secs(90), "1m30s"),
            (Duration::from_secs(3600), "1h0m0s"),
            (Duration::from_millis(3_723_500), "1h2m3.5s"),
        ];
        for (duration, text) in cases {
            assert_eq!(super::go_duration(duration), text, "{duration:?}");
        }
    }

    use std::time::UNIX_EPOCH;

    use super::*;

    fn graph(edges: &[(&str, &[&str])]) -> BTreeMap<String, Vec<String>> {
        edges
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.iter().map(|s| (*s).to_owned()).collect()))
            .collect()
    }

    #[test]
    fn orders_by_dependencies_in_layers() {
        let g = graph(&[
            ("apps", &["infra", "security"]),
            ("infra", &[]),
            ("security", &["infra"]),
            ("monitoring", &[]),
        ]);
        assert_eq!(
            dependency_layers(&g).unwrap(),
            vec![
                vec!["infra".to_owned(), "monitoring".to_owned()],
                vec!["security".to_owned()],
                vec!["apps".to_owned()]
            ]
        );
        assert_eq!(
            dependency_order(&g).unwrap(),
            ["infra", "monitoring", "security", "apps"]
        );
    }

    #[test]
    fn reports_cycles_and_missing_dependencies() {
        let g = graph(&[("a", &["b"]), ("b", &["c"]), ("c", &["a"]), ("d", &[])]);
        let err = dependency_order(&g).unwrap_err();
        assert_eq!(err.to_string(), "dependency cycle: a -> b -> c -> a");
        let g = graph(&[("a", &["a"])]);
        assert_eq!(
            dependency_order(&g).unwrap_err().to_string(),
            "dependency cycle: a -> a"
        );
        let g = graph(&[("a", &["ghost"])]);
        assert_eq!(
            dependency_order(&g).unwrap_err(),
            Error::Missing {
                dependent: "a".into(),
                missing: "ghost".into()
            }
        );
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let b = Backoff {
            initial: Duration::from_secs(2),
            max: Duration::from_secs(60),
            factor: 2,
        };
        let delays: Vec<u64> = (0..8).map(|n| b.delay(n).as_secs()).collect();
        assert_eq!(delays, [0, 2, 4, 8, 16, 32, 60, 60]);
        assert_eq!(b.delay(u32::MAX), Duration::from_secs(60));
    }

    #[test]
    fn jitter_stays_in_bounds_and_spreads_objects() {
        let interval = Interval::new(Duration::from_secs(600)).with_jitter(0.1);
        let delays: Vec<Duration> = (0..200)
            .map(|i| interval.delay(&format!("app-{i}"), 0))
            .collect();
        assert!(
            delays
                .iter()
                .all(|d| *d >= Duration::from_secs(540) && *d < Duration::from_secs(660))
        );
        let distinct: BTreeSet<_> = delays.iter().collect();
        assert!(
            distinct.len() > 150,
            "only {} distinct delays",
            distinct.len()
        );
        assert_eq!(interval.delay("app-1", 3), interval.delay("app-1", 3));
        assert_eq!(
            Interval::new(Duration::from_secs(60))
                .with_jitter(0.0)
                .delay("x", 1),
            Duration::from_secs(60)
        );
    }

    #[test]
    fn schedule_due_times() {
        let t0 = UNIX_EPOCH + Duration::from_secs(1_000);
        let mut s = Schedule::new(Interval::new(Duration::from_secs(60)).with_jitter(0.0));
        assert_eq!(s.due("k", t0), Due::Now);
        s.record(t0, true);
        assert_eq!(s.due("k", t0), Due::At(t0 + Duration::from_secs(60)));
        assert_eq!(s.due("k", t0 + Duration::from_secs(61)), Due::Now);
        s.record(t0, false);
        s.record(t0, false);
        assert_eq!(s.due("k", t0), Due::At(t0 + Duration::from_secs(2)));
        s.suspended = true;
        assert_eq!(s.due("k", t0 + Duration::from_secs(3600)), Due::Suspended);
    }

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_445_412_450); // 07:27:30 GMT
        assert_eq!(retry_after(" 2 ", now), Some(Duration::from_secs(2)));
        assert_eq!(retry_after("1.5", now), Some(Duration::from_millis(1500)));
        assert_eq!(
            retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            retry_after("Sun, 06 Nov 1994 08:49:37 GMT", now),
            Some(Duration::ZERO),
            "a date in the past waits nothing"
        );
        assert_eq!(
            http_date("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(SystemTime::UNIX_EPOCH + Duration::from_secs(784_111_777))
        );
        assert_eq!(
            http_date("Thu, 29 Feb 2024 00:00:00 GMT"),
            Some(SystemTime::UNIX_EPOCH + Duration::from_secs(1_709_164_800))
        );
        assert_eq!(retry_after(".25", now), Some(Duration::from_millis(250)));
        assert_eq!(
            retry_after("1.0000000019", now),
            Some(Duration::from_nanos(1_000_000_001)),
            "digits past nanoseconds are dropped"
        );
        assert_eq!(
            retry_after("18446744073709551616", now),
            Some(Duration::MAX),
            "more seconds than a Duration holds is the longest wait"
        );
        for bad in [
            "-1",
            "NaN",
            "inf",
            "1e300",
            "+5",
            ".",
            "1.2.3",
            "soon",
            "Wed, 21 Oct 2015 07:28:00 UTC",
            "Wed, 21 Foo 2015 07:28:00 GMT",
            "Wed, 21 Oct 2015 7:28:00 GMT",
            "",
        ] {
            assert_eq!(retry_after(bad, now), None, "{bad:?}");
        }
    }

    #[test]
    fn a_huge_retry_after_is_none_not_a_panic() {
        // A remote server chooses this header: exponents and infinities are not delta-seconds
        // (we keep our backoff); digits past what a Duration holds are the longest wait, which
        // the caller's Retry-After cap refuses.
        let now = SystemTime::UNIX_EPOCH;
        assert_eq!(retry_after("1e30", now), None);
        assert_eq!(retry_after("inf", now), None);
        assert_eq!(
            retry_after("99999999999999999999999", now),
            Some(Duration::MAX)
        );
    }
}
