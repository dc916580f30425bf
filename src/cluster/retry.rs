//! Retries for transient API failures: 429 and 5xx responses and broken connections, with
//! exponential backoff and jitter, honouring the server's `Retry-After`.
//!
//! [`with_retry`] is the only retry loop for API requests: kube-client's own retry layer (on
//! by default in kube 5, `Config::default_retry`) is switched off in
//! [`super::Cluster::from_config`]. It retried 429, 503 and 504 up to 15 times per request (5 ms
//! doubling, jittered up to 3×, never sooner than `Retry-After`), for minutes, without a log
//! line, and under `with_retry` that budget was multiplied by six: against an API server that
//! kept throttling, install printed nothing for minutes instead of failing (tests/throttling.rs).
//! Every call site wraps an idempotent request (get, list, server-side apply, delete with a uid
//! precondition), so a retry after a 5xx that did take effect is harmless. Watches pause between
//! restarts ([`watch_with_backoff`]).
//!
//! API Priority and Fairness (and `--max-requests-inflight`) reject with a plain-text body and
//! the wait only in the `Retry-After` header, which kube-client does not keep: [`carry_retry_after`]
//! copies the header into the error `Status` as `details.retryAfterSeconds`, as client-go does.

use crate::backoff::{Backoff, random_below};
use bytes::Bytes;
use http::{Response, StatusCode};
use http_body_util::BodyExt;
use kube::client::DynBody;
use kube::core::Status;
use kube::core::response::StatusDetails;
use kube::runtime::watcher;
use std::future::Future;
use std::time::Duration;
use tokio::time::Instant;
use tower::BoxError;

/// 200 ms doubling to 10 s between the attempts of one request.
const BACKOFF: Backoff = Backoff {
    first: Duration::from_millis(200),
    max: Duration::from_secs(10),
};
/// How long one request keeps being retried, unless `--api-retry-budget` says otherwise: long
/// enough to ride out an API server restart or a throttling burst, short enough that a cluster
/// that stays unreachable fails the task within a minute.
pub const DEFAULT_BUDGET: Duration = Duration::from_secs(30);
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

/// Runs `call` until it succeeds, fails permanently, or the retry budget is used up.
///
/// The wait before attempt n+1 is a jittered exponential backoff (200 ms doubling to 10 s,
/// drawn from its upper half); when the server sent `Retry-After` it is that wait plus a random
/// part of the backoff, so `Retry-After` is a lower bound and clients rejected together do not
/// come back together. A wait that would end past the budget (counted from the first attempt) is
/// not started: the error is returned, its message saying how many attempts were made over how
/// long.
///
/// The budget is the cluster handle's ([`super::Cluster::with_retry`]).
pub async fn with_retry<T, F, Fut>(
    budget: Duration,
    what: &str,
    mut call: F,
) -> Result<T, kube::Error>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, kube::Error>>,
{
    let started = Instant::now();
    for attempt in 1.. {
        match call().await {
            Ok(value) => return Ok(value),
            Err(err) => {
                let Some(retry_after) = classify(&err) else {
                    return Err(err);
                };
                let wait = BACKOFF.wait(retry_after, attempt);
                if started.elapsed() + wait > budget {
                    tracing::warn!(
                        %what,
                        attempts = attempt,
                        code = code(&err),
                        seconds = started.elapsed().as_secs_f32(),
                        error = %brief(&err),
                        "transient API error persists; giving up"
                    );
                    return Err(gave_up(err, attempt, started.elapsed()));
                }
                tracing::warn!(
                    %what,
                    attempt,
                    code = code(&err),
                    retry_after_s = retry_after.map(|d| d.as_secs()),
                    wait_ms = wait.as_millis() as u64,
                    error = %brief(&err),
                    "transient API error, retrying"
                );
                tokio::time::sleep(wait).await;
            }
        }
    }
    unreachable!("the loop returns")
}

/// The HTTP status of an API error, 0 for a connection error: logged with each retry.
fn code(err: &kube::Error) -> u16 {
    match err {
        kube::Error::Api(status) => status.code,
        _ => 0,
    }
}

/// An API error without kube's debug dump of the whole `Status`, a connection error with its
/// causes (`client error (Connect): tcp connect error: Connection refused (os error 111)`): one
/// readable log field.
fn brief(err: &kube::Error) -> String {
    match err {
        kube::Error::Api(status) => crate::error_chain::describe_status(status),
        other => unwrapped(other)
            .map(|err| {
                crate::error_chain::messages(err)
                    .collect::<Vec<_>>()
                    .join(": ")
            })
            .unwrap_or_default(),
    }
}

/// The error under kube's `ServiceError: ` / `HyperError: ` wrapper, whose text is only that
/// prefix and the wrapped error's text (which its `source` repeats).
pub(crate) fn unwrapped(err: &kube::Error) -> Option<&(dyn std::error::Error + 'static)> {
    use std::error::Error as _;
    match err {
        kube::Error::Service(_) | kube::Error::HyperError(_) => err.source(),
        other => Some(other),
    }
}

/// The final error of a used-up retry budget says so: an API status keeps its code and reason,
/// a connection error (refused, reset, TLS) is wrapped in [`GaveUp`], still a `Service` error, so
/// still transient for anyone classifying it.
fn gave_up(err: kube::Error, attempts: u32, elapsed: Duration) -> kube::Error {
    match err {
        kube::Error::Api(mut status) => {
            status.message = format!(
                "{} ({})",
                status.message.trim_end(),
                still_failing(attempts, elapsed)
            );
            kube::Error::Api(status)
        }
        other => kube::Error::Service(Box::new(GaveUp {
            attempts,
            elapsed,
            last: other,
        })),
    }
}

fn still_failing(attempts: u32, elapsed: Duration) -> String {
    format!(
        "still failing after {attempts} attempts over {:.1} s",
        elapsed.as_secs_f64()
    )
}

/// A request that got no answer (no connection, a broken one) until the retry budget was used
/// up; its source is the last attempt's error, without kube's `ServiceError` wrapper.
#[derive(Debug)]
pub struct GaveUp {
    attempts: u32,
    elapsed: Duration,
    last: kube::Error,
}

impl std::fmt::Display for GaveUp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "no answer from the API server ({})",
            still_failing(self.attempts, self.elapsed)
        )
    }
}

impl std::error::Error for GaveUp {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        unwrapped(&self.last)
    }
}

/// A watch stream that pauses after each error before the watcher lists or watches again (it
/// does so at once by itself): for the server's `Retry-After` plus a random part of the
/// backoff when the error carried one, else kube-runtime's default backoff (0.8 s doubling to
/// 30 s, jittered; reset by a good event). Errors are still passed on, for the caller to log.
pub fn watch_with_backoff<S, K>(
    stream: S,
) -> impl futures::Stream<Item = Result<K, watcher::Error>> + Send
where
    S: futures::Stream<Item = Result<K, watcher::Error>> + Send,
{
    use futures::TryStreamExt as _;
    use kube::runtime::WatchStreamExt as _;
    let hint = std::sync::Arc::new(std::sync::Mutex::new(None));
    let backoff = RetryAfterBackoff {
        hint: hint.clone(),
        backoff: watcher::DefaultBackoff::default(),
    };
    stream
        .inspect_err(move |err| {
            *hint.lock().unwrap_or_else(|e| e.into_inner()) = watch_retry_after(err);
        })
        .backoff(backoff)
}

/// The `Retry-After` of a watch error, if the server sent one.
fn watch_retry_after(err: &watcher::Error) -> Option<Duration> {
    match err {
        watcher::Error::InitialListFailed(e)
        | watcher::Error::WatchStartFailed(e)
        | watcher::Error::WatchFailed(e) => classify(e).flatten(),
        watcher::Error::WatchError(status) => classify(&kube::Error::Api(status.clone())).flatten(),
        watcher::Error::NoResourceVersion => None,
    }
}

/// Whether a watch error is one the watcher gets over by listing or watching again: transient
/// as for [`classify`], or an expired resource version (410 Gone).
pub fn is_transient_watch_error(err: &watcher::Error) -> bool {
    match err {
        watcher::Error::InitialListFailed(e)
        | watcher::Error::WatchStartFailed(e)
        | watcher::Error::WatchFailed(e) => classify(e).is_some(),
        watcher::Error::WatchError(status) => {
            status.code == 410 || classify(&kube::Error::Api(status.clone())).is_some()
        }
        watcher::Error::NoResourceVersion => false,
    }
}

struct RetryAfterBackoff {
    hint: std::sync::Arc<std::sync::Mutex<Option<Duration>>>,
    backoff: watcher::DefaultBackoff,
}

impl Iterator for RetryAfterBackoff {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        let backoff = self.backoff.next()?;
        let hint = self.hint.lock().unwrap_or_else(|e| e.into_inner()).take();
        Some(match hint {
            Some(after) => after + random_below(backoff),
            None => backoff,
        })
    }
}

impl kube::runtime::utils::Backoff for RetryAfterBackoff {
    fn reset(&mut self) {
        self.backoff.reset();
    }
}

/// The client's response layer (see the module doc): an error response with a `Retry-After`
/// header (whole seconds, as the API server sends it) reaches [`classify`] as a `Status` with
/// `details.retryAfterSeconds`, whether its body was a `Status` already or plain text.
pub async fn carry_retry_after(
    response: Response<Box<DynBody>>,
) -> Result<Response<Box<DynBody>>, BoxError> {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return Ok(response);
    }
    let Some(seconds) = response
        .headers()
        .get(http::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(crate::backoff::parse_retry_after)
        .and_then(|s| u32::try_from(s).ok())
        .filter(|s| *s > 0)
    else {
        return Ok(response);
    };
    let (mut parts, body) = response.into_parts();
    let text = body.collect().await?.to_bytes();
    let rewritten = status_with_retry_after(status, &text, seconds);
    parts.headers.remove(http::header::CONTENT_LENGTH);
    parts.headers.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    let body = http_body_util::Full::new(Bytes::from(rewritten))
        .map_err(|never| -> BoxError { match never {} });
    Ok(Response::from_parts(parts, Box::new(body) as Box<DynBody>))
}

/// The error body as a JSON `Status` carrying `retryAfterSeconds`: the server's own `Status`
/// when the body is one (an explicit `retryAfterSeconds` in it wins), else one built from the
/// HTTP status and the text, like client-go's `NewGenericServerResponse`.
fn status_with_retry_after(code: StatusCode, body: &[u8], seconds: u32) -> Vec<u8> {
    let mut status = match serde_json::from_slice::<Status>(body) {
        Ok(status) if status.code != 0 || !status.message.is_empty() => status,
        _ => {
            let text = String::from_utf8_lossy(body);
            let reason = code
                .canonical_reason()
                .unwrap_or("Unknown")
                .replace(' ', "");
            Status::failure(text.trim(), &reason).with_code(code.as_u16())
        }
    };
    if status.code == 0 {
        status.code = code.as_u16();
    }
    let details = status.details.get_or_insert_with(|| StatusDetails {
        name: String::new(),
        group: String::new(),
        kind: String::new(),
        uid: String::new(),
        causes: Vec::new(),
        retry_after_seconds: 0,
    });
    if details.retry_after_seconds == 0 {
        details.retry_after_seconds = seconds;
    }
    serde_json::to_vec(&status).expect("a Status serializes")
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
        let result = with_retry(DEFAULT_BUDGET, "test", || {
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

    #[tokio::test(start_paused = true)]
    async fn a_persistent_error_is_retried_until_the_budget_is_spent() {
        let mut calls = 0;
        let started = Instant::now();
        let result: Result<(), _> = with_retry(Duration::from_secs(5), "test", || {
            calls += 1;
            async { Err(api_error(503, 0)) }
        })
        .await;
        let elapsed = started.elapsed();
        assert!(elapsed <= Duration::from_secs(5), "{elapsed:?}");
        // 200 ms doubling, from the upper half: waits of at least 0.1 + 0.2 + 0.4 + 0.8 s fit.
        assert!(calls >= 5, "{calls} attempts in {elapsed:?}");
        let kube::Error::Api(status) = result.unwrap_err() else {
            panic!("not an API error")
        };
        assert!(
            status
                .message
                .contains(&format!("still failing after {calls} attempts")),
            "{}",
            status.message
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_retry_after_beyond_the_budget_is_not_waited_for() {
        let mut calls = 0;
        let started = Instant::now();
        let result: Result<(), _> = with_retry(Duration::from_secs(5), "test", || {
            calls += 1;
            async { Err(api_error(429, 30)) }
        })
        .await;
        assert!(result.is_err());
        assert_eq!(calls, 1);
        assert_eq!(started.elapsed(), Duration::ZERO);
    }

    #[tokio::test]
    async fn permanent_errors_are_not_retried() {
        let mut calls = 0;
        let result: Result<(), _> = with_retry(DEFAULT_BUDGET, "test", || {
            calls += 1;
            async { Err(api_error(403, 0)) }
        })
        .await;
        assert!(result.is_err());
        assert_eq!(calls, 1);
    }

    #[test]
    fn the_last_error_says_how_often_and_how_long_it_was_tried() {
        let err = gave_up(api_error(429, 1), 6, Duration::from_millis(9_400));
        let kube::Error::Api(status) = &err else {
            panic!("{err:?}")
        };
        assert_eq!(status.code, 429);
        assert_eq!(
            status.message,
            "boom (still failing after 6 attempts over 9.4 s)"
        );
        // Still the same transient error for anyone classifying it.
        assert!(classify(&err).is_some());
    }

    /// A refused connection as kube-client reports it: hyper-util's `client error (Connect)`
    /// over the socket's error, under kube's `ServiceError`.
    #[derive(Debug, thiserror::Error)]
    #[error("client error (Connect)")]
    struct Connect(#[source] std::io::Error);

    fn refused() -> kube::Error {
        kube::Error::Service(Box::new(Connect(std::io::Error::new(
            std::io::ErrorKind::ConnectionRefused,
            "Connection refused (os error 111)",
        ))))
    }

    #[test]
    fn a_connection_error_is_logged_with_its_causes() {
        assert_eq!(
            brief(&refused()),
            "client error (Connect): Connection refused (os error 111)"
        );
    }

    #[test]
    fn a_connection_error_given_up_on_says_how_often_and_how_long() {
        let err = gave_up(refused(), 5, Duration::from_millis(2_340));
        // Still a transient connection error for anyone classifying it.
        assert_eq!(classify(&err), Some(None));
        assert_eq!(code(&err), 0);
        let chain = crate::error::Error::from(super::super::ClusterError::api(
            "list data channel ConfigMaps in namespace datachannels",
            err,
        ))
        .chain();
        assert_eq!(
            chain,
            "error: list data channel ConfigMaps in namespace datachannels\n  \
             caused by: no answer from the API server (still failing after 5 attempts over 2.3 s)\n  \
             caused by: client error (Connect)\n  \
             caused by: Connection refused (os error 111)"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_refused_connection_is_retried_until_the_budget_is_spent() {
        let mut calls = 0;
        let result: Result<(), _> = with_retry(Duration::from_secs(3), "test", || {
            calls += 1;
            async { Err(refused()) }
        })
        .await;
        // 200 ms doubling, from the upper half: waits of at least 0.1 + 0.2 + 0.4 + 0.8 s fit.
        assert!(calls >= 4, "{calls} attempts");
        let err = result.unwrap_err();
        let kube::Error::Service(inner) = &err else {
            panic!("{err:?}")
        };
        let text = inner.to_string();
        assert!(
            text.starts_with("no answer from the API server (still failing after ")
                && text.contains(&format!("after {calls} attempts over ")),
            "{text}"
        );
    }

    /// What kube-client does with an error body (`handle_api_errors`): a `Status` if it parses.
    fn parsed(body: &[u8]) -> Status {
        serde_json::from_slice(body).expect("kube-client parses it as a Status")
    }

    #[test]
    fn a_plain_text_429_becomes_a_status_with_retry_after() {
        // The body of API Priority and Fairness's (and max-in-flight's) rejection.
        let body = b"Too many requests, please try again later.\n";
        let status = parsed(&status_with_retry_after(
            StatusCode::TOO_MANY_REQUESTS,
            body,
            4,
        ));
        assert_eq!(status.code, 429);
        assert_eq!(status.reason, "TooManyRequests");
        assert_eq!(status.message, "Too many requests, please try again later.");
        assert_eq!(status.details.as_ref().unwrap().retry_after_seconds, 4);
        let err = kube::Error::Api(status.boxed());
        assert_eq!(classify(&err), Some(Some(Duration::from_secs(4))));
    }

    #[test]
    fn a_status_body_keeps_its_fields_and_its_own_retry_after() {
        let server = br#"{"kind":"Status","apiVersion":"v1","status":"Failure","message":"etcd is busy","reason":"ServiceUnavailable","code":503}"#;
        let status = parsed(&status_with_retry_after(
            StatusCode::SERVICE_UNAVAILABLE,
            server,
            2,
        ));
        assert_eq!(
            (status.code, status.message.as_str(), status.reason.as_str()),
            (503, "etcd is busy", "ServiceUnavailable")
        );
        assert_eq!(status.details.unwrap().retry_after_seconds, 2);

        let explicit = br#"{"status":"Failure","message":"slow down","reason":"TooManyRequests","code":429,"details":{"name":"x","retryAfterSeconds":7}}"#;
        let status = parsed(&status_with_retry_after(
            StatusCode::TOO_MANY_REQUESTS,
            explicit,
            1,
        ));
        let details = status.details.unwrap();
        assert_eq!(
            (details.name.as_str(), details.retry_after_seconds),
            ("x", 7)
        );
    }

    fn response(
        code: u16,
        retry_after: Option<&str>,
        body: &'static str,
    ) -> Response<Box<DynBody>> {
        let mut builder = Response::builder().status(code);
        if let Some(value) = retry_after {
            builder = builder.header(http::header::RETRY_AFTER, value);
        }
        let body = http_body_util::Full::new(Bytes::from_static(body.as_bytes()))
            .map_err(|never| -> BoxError { match never {} });
        builder.body(Box::new(body) as Box<DynBody>).unwrap()
    }

    async fn body_of(response: Response<Box<DynBody>>) -> String {
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    #[tokio::test]
    async fn the_response_layer_rewrites_only_error_responses_with_retry_after() {
        let throttled = carry_retry_after(response(429, Some("3"), "Too many requests\n"))
            .await
            .unwrap();
        assert_eq!(throttled.status(), 429);
        let status = parsed(body_of(throttled).await.as_bytes());
        assert_eq!(status.details.unwrap().retry_after_seconds, 3);

        for (code, header, body) in [
            (200, Some("3"), "{}"),
            (404, None, "not found"),
            (503, Some("soon"), "unavailable"),
        ] {
            let out = carry_retry_after(response(code, header, body))
                .await
                .unwrap();
            assert_eq!(out.status(), code);
            assert_eq!(body_of(out).await, body, "{code} {header:?}");
        }
    }

    #[tokio::test]
    async fn a_throttled_watch_pauses_for_retry_after_before_listing_again() {
        use futures::StreamExt as _;
        let items: Vec<Result<u32, watcher::Error>> = vec![
            Err(watcher::Error::InitialListFailed(api_error(429, 1))),
            Ok(1),
        ];
        let mut stream = std::pin::pin!(watch_with_backoff(futures::stream::iter(items)));
        let started = std::time::Instant::now();
        assert!(
            matches!(stream.next().await, Some(Err(_))),
            "errors are passed on"
        );
        assert!(matches!(stream.next().await, Some(Ok(1))));
        let paused = started.elapsed();
        // Retry-After (1 s) plus a random part of the default backoff's first step (0.8 s plus
        // up to 100% jitter): under 2.6 s, with room for a busy machine.
        assert!(
            paused >= Duration::from_secs(1) && paused < Duration::from_millis(3_500),
            "{paused:?}"
        );
    }

    #[test]
    fn watch_errors_worth_waiting_out() {
        assert!(is_transient_watch_error(
            &watcher::Error::InitialListFailed(api_error(429, 1))
        ));
        assert!(is_transient_watch_error(&watcher::Error::WatchFailed(
            api_error(503, 0)
        )));
        let gone = Status::failure("too old resource version", "Expired").with_code(410);
        assert!(is_transient_watch_error(&watcher::Error::WatchError(
            gone.boxed()
        )));
        assert!(!is_transient_watch_error(
            &watcher::Error::InitialListFailed(api_error(403, 0))
        ));
        assert!(!is_transient_watch_error(
            &watcher::Error::NoResourceVersion
        ));
        assert_eq!(
            watch_retry_after(&watcher::Error::WatchStartFailed(api_error(429, 2))),
            Some(Duration::from_secs(2))
        );
    }
}
