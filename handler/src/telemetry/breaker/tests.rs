//! Unit tests of the hand-off circuit breaker, with the times passed in.

use super::*;

const POLICY: Policy = Policy {
    probe_after_skips: 4,
    probe_interval: Duration::from_secs(5),
};

fn refused() -> Failure {
    Failure::Unreachable("connection refused".into())
}

#[test]
fn closed_hands_off_and_stays_closed_on_success() {
    let t0 = Instant::now();
    let mut breaker = Breaker::new(POLICY);
    for i in 0..5 {
        let now = t0 + Duration::from_millis(i);
        assert_eq!(breaker.decide(now), Decision::HandOff);
        assert_eq!(breaker.succeeded(now), None, "no transition while healthy");
    }
    assert!(!breaker.is_open());
}

#[test]
fn a_failure_opens_once_and_later_invocations_skip() {
    let t0 = Instant::now();
    let mut breaker = Breaker::new(POLICY);
    assert_eq!(breaker.decide(t0), Decision::HandOff);
    assert_eq!(
        breaker.failed(t0, refused()),
        Some(Transition::Opened { reason: refused() })
    );
    assert!(breaker.is_open());
    // Within the interval, the next probe_after_skips invocations are skipped.
    for i in 1..=4 {
        assert_eq!(
            breaker.decide(t0 + Duration::from_millis(i)),
            Decision::Skip
        );
        breaker.dropped(3);
    }
    assert_eq!(breaker.dropped_total(), 12);
}

#[test]
fn probes_after_enough_skips_and_never_twice_in_a_row() {
    let t0 = Instant::now();
    let mut breaker = Breaker::new(POLICY);
    breaker.decide(t0);
    breaker.failed(t0, refused());
    let mut decisions = Vec::new();
    for i in 1..=15u64 {
        let now = t0 + Duration::from_millis(i);
        let decision = breaker.decide(now);
        if decision == Decision::Probe {
            assert_eq!(
                breaker.failed(now, Failure::TimedOut(Duration::from_millis(500))),
                None,
                "a failed probe is not a new transition"
            );
        }
        decisions.push(decision);
    }
    use Decision::{Probe as P, Skip as S};
    assert_eq!(
        decisions,
        [S, S, S, S, P, S, S, S, S, P, S, S, S, S, P],
        "one probe after every 4 skips"
    );
}

#[test]
fn probes_after_the_interval_but_only_after_a_skip() {
    let t0 = Instant::now();
    let mut breaker = Breaker::new(POLICY);
    breaker.decide(t0);
    breaker.failed(t0, refused());
    // A rarely invoked function: each invocation 1 minute after the previous one.
    let minute = Duration::from_secs(60);
    let mut decisions = Vec::new();
    for i in 1..=6u32 {
        let now = t0 + minute * i;
        let decision = breaker.decide(now);
        if decision == Decision::Probe {
            breaker.failed(now, refused());
        }
        decisions.push(decision);
    }
    use Decision::{Probe as P, Skip as S};
    assert_eq!(
        decisions,
        [S, P, S, P, S, P],
        "time makes a probe due, but a failed attempt is always followed by a skip"
    );
}

#[test]
fn a_successful_probe_closes_with_the_counts() {
    let t0 = Instant::now();
    let mut breaker = Breaker::new(POLICY);
    breaker.decide(t0);
    breaker.failed(t0, Failure::Status(503));
    breaker.dropped(2);
    let mut now = t0;
    loop {
        now += Duration::from_millis(10);
        match breaker.decide(now) {
            Decision::Skip => breaker.dropped(1),
            Decision::Probe => break,
            Decision::HandOff => panic!("open breaker handed off"),
        }
    }
    assert_eq!(
        breaker.succeeded(now),
        Some(Transition::Closed {
            open_for: Duration::from_millis(50),
            skipped_invocations: 4,
            dropped_spans: 6,
            reason: Failure::Status(503),
        })
    );
    assert!(!breaker.is_open());
    assert_eq!(breaker.decide(now), Decision::HandOff);
    assert_eq!(breaker.succeeded(now), None);
    // A new failure opens it again, with fresh counts.
    assert!(matches!(
        breaker.failed(now, refused()),
        Some(Transition::Opened { .. })
    ));
    assert_eq!(breaker.decide(now), Decision::Skip);
}

#[test]
fn one_log_line_per_transition_with_the_reason() {
    use std::sync::{Arc, Mutex};
    #[derive(Clone, Default)]
    struct Lines(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Lines {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let lines = Lines::default();
    let writer = lines.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::TRACE)
        .finish();
    tracing::subscriber::with_default(subscriber, || {
        let t0 = Instant::now();
        let mut breaker = Breaker::new(POLICY);
        let mut now = t0;
        // Healthy, then the sidecar goes away for 30 invocations, then comes back.
        for i in 0..40 {
            now += Duration::from_millis(100);
            let sidecar_up = !(3..33).contains(&i);
            let transition = match breaker.decide(now) {
                Decision::Skip => None,
                Decision::HandOff | Decision::Probe if sidecar_up => breaker.succeeded(now),
                Decision::HandOff | Decision::Probe => {
                    breaker.failed(now, Failure::TimedOut(Duration::from_millis(500)))
                }
            };
            if let Some(transition) = transition {
                transition.log();
            }
        }
    });
    let text = String::from_utf8(lines.0.lock().unwrap().clone()).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(lines[0].contains("WARN") && lines[0].contains("skipping it"));
    assert!(lines[0].contains("no answer within the hand-off timeout (500 ms)"));
    assert!(lines[1].contains("INFO") && lines[1].contains("resumed"));
    assert!(lines[1].contains("reason=no answer within the hand-off timeout"));
    assert!(lines[1].contains("skipped_invocations="));
}
