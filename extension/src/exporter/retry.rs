//! Retry policy of the OTLP exporter: which answers are retried, how long to wait (exponential backoff
//! with jitter, or the server's `Retry-After`), and when to give up.

use crate::config::RetryConfig;
use std::time::{Duration, SystemTime};

/// What to do with an HTTP answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// 2xx: delivered (maybe partially, see the response body).
    Delivered,
    /// 429, 502, 503, 504: try again later.
    Retry,
    /// Anything else (400, 401, 403, 404, 413...): sending the same data again cannot succeed.
    Permanent,
}

/// Classifies an HTTP status per the OTLP/HTTP specification.
pub fn classify(status: u16) -> Disposition {
    match status {
        200..=299 => Disposition::Delivered,
        429 | 502 | 503 | 504 => Disposition::Retry,
        _ => Disposition::Permanent,
    }
}

/// Parses `Retry-After`: delay-seconds or an HTTP date (relative to `now`).
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let date = httpdate::parse_http_date(value).ok()?;
    Some(date.duration_since(now).unwrap_or(Duration::ZERO))
}

/// Delay before retry number `retry` (0 for the first retry): `initial * 2^retry`, capped at `max_backoff`,
/// jittered uniformly over its upper half by `random` in `[0, 1)`. A server's `Retry-After` replaces it,
/// capped at `max_backoff` as well.
pub fn backoff(
    retry: u32,
    policy: &RetryConfig,
    random: f64,
    retry_after: Option<Duration>,
) -> Duration {
    if let Some(server) = retry_after {
        return server.min(policy.max_backoff);
    }
    let factor = 2u32.saturating_pow(retry.min(16));
    let base = policy
        .initial_backoff
        .saturating_mul(factor)
        .min(policy.max_backoff);
    let half = base / 2;
    half + half.mul_f64(random.clamp(0.0, 1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: RetryConfig = RetryConfig {
        max_attempts: 5,
        initial_backoff: Duration::from_millis(100),
        max_backoff: Duration::from_secs(2),
    };

    #[test]
    fn statuses_are_classified_per_the_spec() {
        assert_eq!(classify(200), Disposition::Delivered);
        assert_eq!(classify(202), Disposition::Delivered);
        for status in [429, 502, 503, 504] {
            assert_eq!(classify(status), Disposition::Retry, "{status}");
        }
        for status in [400, 401, 403, 404, 413, 500] {
            assert_eq!(classify(status), Disposition::Permanent, "{status}");
        }
    }

    #[test]
    fn backoff_grows_exponentially_within_jitter_and_caps() {
        assert_eq!(backoff(0, &POLICY, 0.0, None), Duration::from_millis(50));
        assert_eq!(backoff(0, &POLICY, 0.999_999, None).as_millis(), 99);
        assert_eq!(backoff(3, &POLICY, 0.0, None), Duration::from_millis(400));
        assert_eq!(backoff(30, &POLICY, 0.0, None), Duration::from_secs(1));
        assert!(backoff(30, &POLICY, 0.99, None) <= POLICY.max_backoff);
    }

    #[test]
    fn retry_after_wins_but_is_capped() {
        assert_eq!(
            backoff(0, &POLICY, 0.5, Some(Duration::from_secs(1))),
            Duration::from_secs(1)
        );
        assert_eq!(
            backoff(0, &POLICY, 0.5, Some(Duration::from_secs(60))),
            POLICY.max_backoff
        );
    }

    #[test]
    fn retry_after_accepts_seconds_and_http_dates() {
        let now = httpdate::parse_http_date("Wed, 21 Oct 2015 07:28:00 GMT").unwrap();
        assert_eq!(parse_retry_after(" 3 ", now), Some(Duration::from_secs(3)));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:05 GMT", now),
            Some(Duration::from_secs(5))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:27:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
    }
}
