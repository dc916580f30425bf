//! `await-services`: a scoring flow's init container waits until every scoring service it uses
//! answers ready on its health endpoint (Open Inference Protocol `GET /v2/health/ready` by
//! default; the path is a flag because runtimes differ). One log line per check that is not yet
//! ready; a deadline ends the wait with every service still not ready and why.

use std::time::Duration;
use tokio::time::Instant;

#[derive(Debug, thiserror::Error)]
pub enum AwaitError {
    #[error("--service `{url}`: {reason}")]
    InvalidService { url: String, reason: String },
    #[error("--ready-path `{0}` must start with `/`")]
    InvalidPath(String),
    #[error("not ready after {}s:{}", .waited.as_secs(), pending(.not_ready))]
    Deadline {
        waited: Duration,
        /// `(health URL, last answer or error)` of every service that never answered ready.
        not_ready: Vec<(String, String)>,
    },
}

fn pending(not_ready: &[(String, String)]) -> String {
    not_ready
        .iter()
        .map(|(url, reason)| format!("\n  - {url}: {reason}"))
        .collect()
}

/// The health URLs to poll: each service's base URL joined with `ready_path`.
pub fn health_urls(services: &[String], ready_path: &str) -> Result<Vec<String>, AwaitError> {
    if !ready_path.starts_with('/') {
        return Err(AwaitError::InvalidPath(ready_path.to_string()));
    }
    services
        .iter()
        .map(|service| {
            let invalid = |reason: &str| AwaitError::InvalidService {
                url: service.clone(),
                reason: reason.to_string(),
            };
            let url = url::Url::parse(service).map_err(|e| invalid(&e.to_string()))?;
            if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
                return Err(invalid("expected http(s)://<host>[:port]"));
            }
            if url.query().is_some() || url.fragment().is_some() {
                return Err(invalid("a base URL has no query or fragment"));
            }
            Ok(format!("{}{ready_path}", service.trim_end_matches('/')))
        })
        .collect()
}

/// Polls every URL every `interval` until each answers 2xx, or `timeout` passes.
pub async fn await_ready(
    urls: &[String],
    timeout: Duration,
    interval: Duration,
) -> Result<(), AwaitError> {
    // reqwest is built without a bundled crypto provider; an error only means one is installed.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let started = Instant::now();
    let deadline = started + timeout;
    let client = reqwest::Client::builder()
        .user_agent(concat!("modelops-executor/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| AwaitError::InvalidService {
            url: urls.join(","),
            reason: e.to_string(),
        })?;
    let checks = urls
        .iter()
        .map(|url| await_one(&client, url, started, deadline, interval));
    let not_ready: Vec<(String, String)> = futures::future::join_all(checks)
        .await
        .into_iter()
        .zip(urls)
        .filter_map(|(result, url)| result.err().map(|reason| (url.clone(), reason)))
        .collect();
    if not_ready.is_empty() {
        Ok(())
    } else {
        Err(AwaitError::Deadline {
            waited: timeout,
            not_ready,
        })
    }
}

/// `Err(last reason)` when the deadline passed first.
async fn await_one(
    client: &reqwest::Client,
    url: &str,
    started: Instant,
    deadline: Instant,
    interval: Duration,
) -> Result<(), String> {
    let mut attempt = 0u32;
    let mut last_reason: Option<String> = None;
    loop {
        attempt += 1;
        let remaining = deadline.saturating_duration_since(Instant::now());
        // A hung service must not hold a check longer than the wait between checks.
        let full_check = interval.max(Duration::from_secs(2));
        let cut_by_deadline = remaining < full_check;
        let reason = match client
            .get(url)
            .timeout(remaining.min(full_check))
            .send()
            .await
        {
            Ok(response) if response.status().is_success() => {
                tracing::info!(
                    url,
                    attempt,
                    elapsed_s = started.elapsed().as_secs(),
                    "service ready"
                );
                return Ok(());
            }
            Ok(response) => format!("answered {}", response.status()),
            // A check the deadline cut short says nothing about the service; the answer
            // before it does (a 503 must not be reported as "no answer in time").
            Err(err) => match &last_reason {
                Some(previous) if err.is_timeout() && cut_by_deadline => previous.clone(),
                _ => describe(&err),
            },
        };
        if Instant::now() + interval >= deadline {
            return Err(reason);
        }
        tracing::info!(url, attempt, elapsed_s = started.elapsed().as_secs(), reason = %reason, "waiting for service");
        last_reason = Some(reason);
        tokio::time::sleep(interval).await;
    }
}

/// The innermost cause is the useful one ("Connection refused", "dns error: …").
fn describe(err: &reqwest::Error) -> String {
    if err.is_timeout() {
        "no answer in time".to_string()
    } else {
        crate::error_chain::messages(err).last().unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A service that answers 503 to its first `not_ready` requests, then 200.
    async fn service(not_ready: usize) -> String {
        slow_service(not_ready, Duration::ZERO).await
    }

    /// `service`, answering each request after `delay`.
    async fn slow_service(not_ready: usize, delay: Duration) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let mut served = 0;
            loop {
                let (mut socket, _) = listener.accept().await.unwrap();
                let mut request = [0u8; 1024];
                let _ = socket.read(&mut request).await;
                tokio::time::sleep(delay).await;
                let status = if served < not_ready {
                    "503 Service Unavailable"
                } else {
                    "200 OK"
                };
                served += 1;
                let answer =
                    format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
                let _ = socket.write_all(answer.as_bytes()).await;
            }
        });
        format!("http://{address}")
    }

    #[test]
    fn health_urls_join_base_and_path() {
        let urls = health_urls(
            &["http://svc:8080".into(), "https://other:9000/".into()],
            "/v2/health/ready",
        )
        .unwrap();
        assert_eq!(
            urls,
            [
                "http://svc:8080/v2/health/ready",
                "https://other:9000/v2/health/ready"
            ]
        );
        assert!(
            health_urls(&["svc:8080".into()], "/x")
                .unwrap_err()
                .to_string()
                .contains("expected http(s)")
        );
        assert!(
            health_urls(&["http://svc".into()], "ready")
                .unwrap_err()
                .to_string()
                .contains("must start with `/`")
        );
    }

    #[tokio::test]
    async fn waits_until_every_service_answers_ready() {
        let urls = [service(2).await, service(0).await];
        let urls: Vec<String> = urls
            .iter()
            .map(|u| format!("{u}/v2/health/ready"))
            .collect();
        await_ready(&urls, Duration::from_secs(20), Duration::from_millis(50))
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn the_deadline_names_each_service_not_ready_and_why() {
        let ready = format!("{}/v2/health/ready", service(0).await);
        let unavailable = format!("{}/v2/health/ready", service(usize::MAX).await);
        // A port nothing listens on: bind, note, drop.
        let closed = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            format!("http://{}/v2/health/ready", listener.local_addr().unwrap())
        };
        let err = await_ready(
            &[ready, unavailable.clone(), closed.clone()],
            // Long enough for a loaded machine to answer (the cold CI run builds in the
            // background meanwhile): at 600 ms the 503 once arrived too late.
            Duration::from_secs(3),
            Duration::from_millis(100),
        )
        .await
        .unwrap_err()
        .to_string();
        assert!(err.starts_with("not ready after 3s:"), "{err}");
        assert!(
            err.contains(&format!(
                "- {unavailable}: answered 503 Service Unavailable"
            )),
            "{err}"
        );
        assert!(err.contains(&format!("- {closed}: ")), "{err}");
        assert_eq!(err.lines().count(), 3, "{err}");
    }

    #[tokio::test]
    async fn a_check_cut_short_by_the_deadline_keeps_the_answer_before_it() {
        // The first check answers 503 after 700 ms; the second starts 100 ms later with 200 ms
        // left and is cut by the deadline. The service said 503, not "no answer in time".
        let slow = format!(
            "{}/v2/health/ready",
            slow_service(usize::MAX, Duration::from_millis(700)).await
        );
        let err = await_ready(
            std::slice::from_ref(&slow),
            Duration::from_secs(1),
            Duration::from_millis(100),
        )
        .await
        .unwrap_err()
        .to_string();
        assert!(
            err.ends_with(&format!("- {slow}: answered 503 Service Unavailable")),
            "{err}"
        );
    }
}
