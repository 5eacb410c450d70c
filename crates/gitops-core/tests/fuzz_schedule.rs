//! Property tests of the scheduling helpers that read input from the network (`Retry-After`)
//! or from object specs (intervals, backoff): whatever the input, no panic and a bounded answer.
#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use std::time::{Duration, SystemTime};

use gitops_core::schedule::{Backoff, Interval, Schedule, retry_after};
use proptest::prelude::*;

/// What registries and notifiers have been seen to send, and what an attacker would.
const HOSTILE: &[&str] = &[
    "1e300",
    "1E20",
    "inf",
    "+inf",
    "-inf",
    "infinity",
    "NaN",
    "-1",
    "-0",
    "+5",
    "18446744073709551616",
    "99999999999999999999999999999999999999",
    "18446744073709551615.999999999",
    "0.0000000001",
    "1.",
    ".5",
    "Fri, 31 Dec 9999 23:59:59 GMT",
    "Sat, 01 Jan 0000 00:00:00 GMT",
];

#[test]
fn retry_after_overflowing_values_never_panic() {
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    for value in HOSTILE {
        // The property is "no panic"; what each answers is pinned in the unit tests.
        let _ = retry_after(value, now);
    }
    assert_eq!(
        retry_after("1e300", now),
        None,
        "exponents are not delay-seconds"
    );
    assert_eq!(retry_after("inf", now), None);
    assert_eq!(retry_after("NaN", now), None);
    assert_eq!(retry_after("-1", now), None);
    assert_eq!(
        retry_after("99999999999999999999999999999999999999", now),
        Some(Duration::MAX),
        "a huge wait is kept as huge, so the caller's cap refuses it"
    );
}

#[test]
fn schedules_with_huge_durations_never_panic() {
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let interval = Interval::new(Duration::MAX).with_jitter(0.5);
    let _ = interval.delay("k", 3);
    let _ = interval.next_due(now, "k", 3);
    let mut schedule = Schedule::new(interval);
    schedule.record(now, true);
    let _ = schedule.due("k", now);
    schedule.retry = Backoff {
        initial: Duration::MAX,
        max: Duration::MAX,
        factor: u32::MAX,
    };
    schedule.record(now, false);
    let _ = schedule.due("k", now);
}

proptest! {
    #[test]
    fn fuzz_retry_after(value in "\\PC{0,40}", secs in 0u64..=u64::MAX / 2) {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(secs % 10_000_000_000);
        let _ = retry_after(&value, now);
    }

    #[test]
    fn fuzz_retry_after_numbers(value in prop_oneof![
        any::<f64>().prop_map(|f| f.to_string()),
        any::<u128>().prop_map(|n| n.to_string()),
        any::<i64>().prop_map(|n| n.to_string()),
        "[0-9]{1,40}(\\.[0-9]{0,20})?",
        proptest::sample::select(HOSTILE).prop_map(str::to_owned),
    ]) {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        if let Some(wait) = retry_after(&value, now) {
            // A number is never read as less than its integer part.
            if let Ok(whole) = value.split('.').next().unwrap_or("").parse::<u64>() {
                prop_assert!(wait >= Duration::from_secs(whole), "{value:?} -> {wait:?}");
            }
        }
    }

    #[test]
    fn fuzz_retry_after_dates(
        day in 0u32..40, month in 0usize..13, year in 0u32..10_000,
        h in 0u32..30, m in 0u32..70, s in 0u32..70, now in any::<u64>(),
    ) {
        const MONTHS: [&str; 13] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec", "Foo"];
        let value = format!("Mon, {day:02} {} {year:04} {h:02}:{m:02}:{s:02} GMT", MONTHS[month]);
        let now = SystemTime::UNIX_EPOCH
            .checked_add(Duration::from_secs(now))
            .unwrap_or(SystemTime::UNIX_EPOCH);
        let _ = retry_after(&value, now);
    }

    #[test]
    fn fuzz_schedule_durations(every in any::<u64>(), nanos in 0u32..1_000_000_000, jitter in any::<f64>(),
        initial in any::<u64>(), factor in any::<u32>(), failures in any::<u32>(), pass in any::<u64>()) {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let interval = Interval::new(Duration::new(every, nanos)).with_jitter(jitter);
        let _ = interval.next_due(now, "key", pass);
        let retry = Backoff { initial: Duration::from_secs(initial), max: Duration::MAX, factor };
        let _ = retry.delay(failures);
        let mut schedule = Schedule::new(interval);
        schedule.retry = retry;
        schedule.record(now, failures % 2 == 0);
        let _ = schedule.due("key", now);
    }
}
