//! Property tests for Go durations: any text parses to `None` or a duration inside Go's range,
//! never a panic, and what parses can be added to a clock with `checked_add`.
//! `PROPTEST_CASES` sets the number of cases; `scripts/fuzz.sh` runs them for longer.

use std::time::{Duration, Instant, SystemTime};

use gitops_flux::parse_duration;
use proptest::prelude::*;

/// Go's largest duration.
const GO_MAX: Duration = Duration::new(9_223_372_036, 854_775_807);

fn duration_text() -> impl Strategy<Value = String> {
    let part = (
        prop_oneof![
            "[0-9]{1,30}",
            "[0-9]{0,5}\\.[0-9]{0,12}",
            Just("".to_owned()),
            Just(".".to_owned())
        ],
        prop::sample::select(vec!["ns", "us", "µs", "ms", "s", "m", "h", "d", "", "x"]),
    )
        .prop_map(|(n, u)| format!("{n}{u}"));
    prop_oneof![
        prop::collection::vec(part, 0..6).prop_map(|v| v.concat()),
        any::<String>(),
        any::<u64>().prop_map(|n| format!("{n}h")),
    ]
}

/// proptest's configuration from its environment (`PROPTEST_CASES`, `PROPTEST_RNG_SEED`), with
/// a small default number of cases for the everyday suite.
fn config(default_cases: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default_cases);
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn fuzz_go_duration(text in duration_text()) {
        if let Some(d) = parse_duration(&text) {
            prop_assert!(d <= GO_MAX, "{text:?} -> {d:?}");
            let _ = Instant::now().checked_add(d);
            let _ = SystemTime::now().checked_add(d);
        }
    }

    #[test]
    fn fuzz_go_duration_round_trips_whole_units(h in 0u64..2_562_047, m in 0u64..60, s in 0u64..60) {
        let d = parse_duration(&format!("{h}h{m}m{s}s"));
        prop_assert_eq!(d, Some(Duration::from_secs(h * 3600 + m * 60 + s)));
    }
}
