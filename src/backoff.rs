//! The one retry policy of the executor, pure: an exponential backoff (doubling from a first delay
//! up to a cap), jittered into the upper half of each step so that clients failing together do
//! not come back together, and a server's `Retry-After` (delta-seconds) read the same way for
//! every caller. The Kubernetes client (`cluster/retry.rs`), the IR download (`ir/fetch.rs`) and
//! the model downloads (`artifacts/fetch.rs`) each decide what is worth retrying and for how long;
//! how long to wait between tries is decided here.

use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

/// Delays that double from `first` up to `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub first: Duration,
    pub max: Duration,
}

impl Backoff {
    /// The full delay before retry number `retry` (1 for the first retry): `first · 2^(retry-1)`,
    /// capped at `max`.
    pub fn delay(&self, retry: u32) -> Duration {
        let exponent = retry.saturating_sub(1).min(16);
        self.first.saturating_mul(1 << exponent).min(self.max)
    }

    /// A random point in the upper half of [`Backoff::delay`].
    pub fn jittered(&self, retry: u32) -> Duration {
        jitter(self.delay(retry))
    }

    /// The wait before retry number `retry` when the server may have said how long to wait: its
    /// `Retry-After` plus a random part of the backoff (so it is a lower bound and clients told
    /// the same do not return together), else the jittered backoff.
    pub fn wait(&self, retry_after: Option<Duration>, retry: u32) -> Duration {
        match retry_after {
            Some(after) => after + random_below(self.delay(retry)),
            None => self.jittered(retry),
        }
    }
}

/// A random point in the upper half of `delay`.
pub fn jitter(delay: Duration) -> Duration {
    let half = delay / 2;
    half + random_below(delay - half)
}

/// Uniform in `[0, bound)` (zero for a zero bound). `RandomState` is seeded randomly per
/// instance: enough for jitter, without a random number crate.
pub fn random_below(bound: Duration) -> Duration {
    let random = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    Duration::from_nanos(random % (bound.as_nanos() as u64).max(1))
}

/// A `Retry-After` header value in delta-seconds. The HTTP-date form is rare for the servers the
/// executor talks to and is treated as absent, which falls back to the backoff.
pub fn parse_retry_after(value: &str) -> Option<u64> {
    value.trim().parse::<u64>().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_with_jitter_and_is_capped() {
        let backoff = Backoff {
            first: Duration::from_millis(100),
            max: Duration::from_millis(1000),
        };
        assert_eq!(backoff.delay(1), Duration::from_millis(100));
        assert_eq!(backoff.delay(3), Duration::from_millis(400));
        assert_eq!(backoff.delay(30), Duration::from_millis(1000));
        for _ in 0..50 {
            let first = backoff.jittered(1);
            assert!(first >= Duration::from_millis(50) && first < Duration::from_millis(100));
            let late = backoff.jittered(30);
            assert!(late >= Duration::from_millis(500) && late < Duration::from_millis(1000));
        }
    }

    #[test]
    fn retry_after_is_a_lower_bound_with_a_random_spread_on_top() {
        let backoff = Backoff {
            first: Duration::from_millis(400),
            max: Duration::from_secs(10),
        };
        let mut waits = std::collections::BTreeSet::new();
        for _ in 0..100 {
            let wait = backoff.wait(Some(Duration::from_secs(2)), 1);
            assert!(
                wait >= Duration::from_secs(2) && wait < Duration::from_millis(2400),
                "{wait:?}"
            );
            waits.insert(wait);
        }
        assert!(
            waits.len() > 50,
            "clients told the same must not retry together"
        );
    }

    #[test]
    fn retry_after_accepts_seconds_only() {
        assert_eq!(parse_retry_after(" 7 "), Some(7));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
        assert_eq!(parse_retry_after("-1"), None);
    }
}
