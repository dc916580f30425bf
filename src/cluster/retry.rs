//! Retries for transient API failures: 429 and 5xx responses and broken connections, with
//! exponential backoff and jitter, honouring the server's `Retry-After` (`details.retryAfterSeconds`).

use std::future::Future;
use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

const ATTEMPTS: u32 = 6;
const FIRST_DELAY: Duration = Duration::from_millis(200);
const MAX_DELAY: Duration = Duration::from_secs(10);
const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

/// Whether an error is worth another try, and how long the server asked us to wait.
pub fn classify(err: &kube::Error) -> Option<Option<Duration>> {
    match err {
        kube::Error::Api(status) => match status.code {
            429 | 500 | 502 | 503 | 504 => {
                let after = status
                    .details
                    .as_ref()
                    .map(|d| d.retry_after_seconds)
                    .filter(|s| *s > 0);
                Some(after.map(|s| Duration::from_secs(u64::from(s)).min(MAX_RETRY_AFTER)))
            }
            _ => None,
        },
        kube::Error::HyperError(_) | kube::Error::Service(_) => Some(None),
        _ => None,
    }
}

/// Runs `call` until it succeeds, fails permanently, or the attempts are used up.
pub async fn with_retry<T, F, Fut>(what: &str, mut call: F) -> Result<T, kube::Error>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, kube::Error>>,
{
    let mut delay = FIRST_DELAY;
    for attempt in 1.. {
        match call().await {
            Ok(value) => return Ok(value),
            Err(err) => {
                let Some(retry_after) = classify(&err) else {
                    return Err(err);
                };
                if attempt >= ATTEMPTS {
                    return Err(err);
                }
                let wait = retry_after.unwrap_or_else(|| jitter(delay));
                tracing::warn!(%what, attempt, wait_ms = wait.as_millis() as u64, error = %err, "transient API error, retrying");
                tokio::time::sleep(wait).await;
                delay = (delay * 2).min(MAX_DELAY);
            }
        }
    }
    unreachable!("the loop returns")
}

/// A random point in the upper half of `delay`, so retrying clients spread out.
fn jitter(delay: Duration) -> Duration {
    let random = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    let half = delay / 2;
    half + Duration::from_nanos(random % (half.as_nanos() as u64).max(1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::core::Status;
    use kube::core::response::StatusDetails;

    fn api_error(code: u16, retry_after: u32) -> kube::Error {
        let mut status = Status::failure("boom", "Reason");
        status.code = code;
        if retry_after > 0 {
            status.details = Some(StatusDetails {
                name: String::new(),
                group: String::new(),
                kind: String::new(),
                uid: String::new(),
                causes: Vec::new(),
                retry_after_seconds: retry_after,
            });
        }
        kube::Error::Api(status.boxed())
    }

    #[test]
    fn classifies_transient_errors() {
        assert_eq!(
            classify(&api_error(429, 3)),
            Some(Some(Duration::from_secs(3)))
        );
        assert_eq!(classify(&api_error(503, 0)), Some(None));
        assert_eq!(classify(&api_error(409, 0)), None);
        assert_eq!(classify(&api_error(404, 0)), None);
        assert_eq!(classify(&api_error(429, 3600)), Some(Some(MAX_RETRY_AFTER)));
    }

    #[tokio::test]
    async fn retries_until_success_and_honours_retry_after() {
        let mut calls = 0;
        let started = std::time::Instant::now();
        let result = with_retry("test", || {
            calls += 1;
            let fail = calls < 3;
            async move {
                if fail {
                    Err(api_error(429, 1))
                } else {
                    Ok(calls)
                }
            }
        })
        .await;
        assert_eq!(result.unwrap(), 3);
        assert!(
            started.elapsed() >= Duration::from_secs(2),
            "Retry-After of 1s was not honoured twice"
        );
    }

    #[tokio::test]
    async fn permanent_errors_are_not_retried() {
        let mut calls = 0;
        let result: Result<(), _> = with_retry("test", || {
            calls += 1;
            async { Err(api_error(403, 0)) }
        })
        .await;
        assert!(result.is_err());
        assert_eq!(calls, 1);
    }

    #[test]
    fn jitter_stays_in_the_upper_half() {
        for _ in 0..100 {
            let d = jitter(Duration::from_millis(400));
            assert!(
                d >= Duration::from_millis(200) && d < Duration::from_millis(400),
                "{d:?}"
            );
        }
    }
}
