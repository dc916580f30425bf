//! Stage 1a: get the IR's files from a directory, a `.tar.gz` or an http(s) URL (docs/ir.md).
//!
//! An archive or download may be pinned with `--ir-sha256`: the hash is taken over the archive's
//! bytes exactly as read or downloaded, before anything is unpacked. A directory cannot be pinned:
//! there is no canonical byte stream to hash, and pretending otherwise would be a false promise.
//!
//! URLs may carry credentials (`user:token@host`, `?sig=…`), so every message and log line shows
//! them through [`redact_url`], and reqwest errors are stripped of their URL before being kept.

use crate::backoff::Backoff;
use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

use reqwest::StatusCode;

use crate::archive::{self, ArchiveError, Files, Limits};

/// Where the IR comes from.
#[derive(Clone, PartialEq, Eq)]
pub enum IrSource {
    Dir(PathBuf),
    /// A `.tar.gz`/`.tgz` file.
    Archive(PathBuf),
    /// An `http://` or `https://` URL serving a `.tar.gz`.
    Url(String),
}

impl IrSource {
    /// `http://`/`https://` (any case) → [`IrSource::Url`]; an existing directory →
    /// [`IrSource::Dir`]; anything else → [`IrSource::Archive`], whose absence is reported by
    /// [`fetch`].
    pub fn parse(arg: &str) -> IrSource {
        if has_prefix_ignore_case(arg, "http://") || has_prefix_ignore_case(arg, "https://") {
            IrSource::Url(arg.to_owned())
        } else if Path::new(arg).is_dir() {
            IrSource::Dir(PathBuf::from(arg))
        } else {
            IrSource::Archive(PathBuf::from(arg))
        }
    }
}

fn has_prefix_ignore_case(s: &str, prefix: &str) -> bool {
    s.as_bytes()
        .get(..prefix.len())
        .is_some_and(|p| p.eq_ignore_ascii_case(prefix.as_bytes()))
}

impl fmt::Display for IrSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IrSource::Dir(path) | IrSource::Archive(path) => path.display().fmt(f),
            IrSource::Url(url) => f.write_str(&redact_url(url)),
        }
    }
}

impl fmt::Debug for IrSource {
    // Hand-written so that `{:?}` in a log line cannot leak a URL's credentials.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IrSource::Dir(path) => f.debug_tuple("Dir").field(path).finish(),
            IrSource::Archive(path) => f.debug_tuple("Archive").field(path).finish(),
            IrSource::Url(url) => f.debug_tuple("Url").field(&redact_url(url)).finish(),
        }
    }
}

/// How URL downloads behave (`--ir-connect-timeout`, `--ir-read-timeout`, `--ir-timeout`,
/// `--ir-attempts`, `--ir-max-retry-after`). [`fetch`] uses the defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpOptions {
    /// For establishing the TCP + TLS connection. Default 10 s.
    pub connect_timeout: Duration,
    /// Longest silence while the answer is awaited or its body read: a stalled server fails the
    /// attempt after this long, not after the whole budget. Default 30 s.
    pub read_timeout: Duration,
    /// For the whole download: every attempt and every wait between attempts. Default 5 min.
    pub total_timeout: Duration,
    /// Attempts in total, including the first. Default 4.
    pub max_attempts: u32,
    /// Delay before the first retry; doubled for each further one, with jitter. Default 500 ms.
    pub initial_backoff: Duration,
    /// Upper bound of the exponential backoff. Default 10 s.
    pub max_backoff: Duration,
    /// A server's `Retry-After` is honoured up to this long, so that a misconfigured server
    /// cannot park an install task for an hour. Default 60 s.
    pub max_retry_after: Duration,
}

impl Default for HttpOptions {
    fn default() -> Self {
        HttpOptions {
            connect_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(30),
            total_timeout: Duration::from_secs(300),
            max_attempts: 4,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(10),
            max_retry_after: Duration::from_secs(60),
        }
    }
}

/// Why the IR could not be fetched. URLs in messages are always redacted.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("--ir-sha256 applies to an archive or URL, not a directory ({path})")]
    Sha256ForDirectory { path: String },
    #[error("--ir-sha256 must be 64 hexadecimal characters, got '{value}' ({len} characters)")]
    InvalidSha256 { value: String, len: usize },
    #[error("{origin}: sha256 mismatch: expected {expected} (--ir-sha256), got {actual}")]
    Sha256Mismatch {
        origin: String,
        expected: String,
        actual: String,
    },
    #[error(
        "IR '{path}' does not exist: expected a directory, a .tar.gz/.tgz archive or an http(s) URL"
    )]
    NotFound { path: String },
    #[error("cannot read IR archive {path}")]
    ReadArchive {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "IR archive {path} is {size} bytes, over the limit of {limit} bytes (--max-input-bytes)"
    )]
    ArchiveTooLarge { path: String, size: u64, limit: u64 },
    #[error("invalid IR URL {url}: {reason}")]
    InvalidUrl { url: String, reason: String },
    #[error("cannot set up the HTTP client")]
    Client(#[source] reqwest::Error),
    #[error("cannot download {url}: the server answered {status} (after {attempts} attempt(s))")]
    HttpStatus {
        url: String,
        status: StatusCode,
        attempts: u32,
    },
    #[error("cannot download {url} (gave up after {attempts} attempt(s))")]
    Download {
        url: String,
        attempts: u32,
        /// Stripped of its URL.
        #[source]
        source: reqwest::Error,
    },
    #[error(
        "cannot download {url}: its time (--ir-timeout {}s) ran out after {attempts} attempt(s); the last one failed: {last}",
        .timeout.as_secs()
    )]
    OutOfTime {
        url: String,
        attempts: u32,
        timeout: std::time::Duration,
        /// The last attempt's failure, without the URL.
        last: String,
    },
    #[error("download of {url} is over the limit of {limit} bytes (--max-input-bytes){}", content_length(.size))]
    DownloadTooLarge {
        url: String,
        limit: u64,
        /// The announced `Content-Length`, when the server sent one.
        size: Option<u64>,
    },
    #[error("reading {origin} was cancelled")]
    Cancelled { origin: String },
    /// Messages of archive errors already name the archive, directory or (redacted) URL.
    #[error(transparent)]
    Archive(#[from] ArchiveError),
}

fn content_length(size: &Option<u64>) -> String {
    size.map(|s| format!(" (Content-Length: {s})"))
        .unwrap_or_default()
}

/// Fetch the IR with the default [`HttpOptions`].
pub async fn fetch(
    source: &IrSource,
    expected_sha256: Option<&str>,
    limits: &Limits,
) -> Result<Files, FetchError> {
    fetch_with(source, expected_sha256, limits, &HttpOptions::default()).await
}

/// Fetch the IR: read the directory, or read/download the archive, check `expected_sha256` over
/// the archive bytes, unpack it in memory and drop a single top-level directory.
pub async fn fetch_with(
    source: &IrSource,
    expected_sha256: Option<&str>,
    limits: &Limits,
    http: &HttpOptions,
) -> Result<Files, FetchError> {
    // Validate the arguments before any I/O, so a typo fails fast and not after a download.
    let expected = match (source, expected_sha256) {
        (IrSource::Dir(path), Some(_)) => {
            return Err(FetchError::Sha256ForDirectory {
                path: path.display().to_string(),
            });
        }
        (_, Some(hex)) => Some(parse_sha256(hex)?),
        (_, None) => None,
    };
    let limits = *limits;
    let origin = source.to_string();
    let files = match source {
        IrSource::Dir(path) => {
            let path = path.clone();
            blocking(&origin, move || Ok(archive::read_dir(&path, &limits)?)).await?
        }
        IrSource::Archive(path) => {
            let (path, shown) = (path.clone(), origin.clone());
            blocking(&origin, move || {
                let bytes = read_archive_file(&path, &limits)?;
                unpack(&shown, &bytes, expected.as_deref(), &limits)
            })
            .await?
        }
        IrSource::Url(url) => {
            let bytes = download(url, &limits, http).await?;
            let shown = origin.clone();
            blocking(&origin, move || {
                unpack(&shown, &bytes, expected.as_deref(), &limits)
            })
            .await?
        }
    };
    tracing::info!(source = %origin, files = files.files.len(), "loaded the IR");
    Ok(files)
}

/// Reading and inflating up to the limits takes long enough to stall other tasks on a runtime
/// thread; move it to the blocking pool.
async fn blocking<T, F>(origin: &str, work: F) -> Result<T, FetchError>
where
    F: FnOnce() -> Result<T, FetchError> + Send + 'static,
    T: Send + 'static,
{
    match tokio::task::spawn_blocking(work).await {
        Ok(result) => result,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(_) => Err(FetchError::Cancelled {
            origin: origin.to_owned(),
        }),
    }
}

fn unpack(
    origin: &str,
    bytes: &[u8],
    expected: Option<&str>,
    limits: &Limits,
) -> Result<Files, FetchError> {
    let actual = sha256_hex(bytes);
    // Logged even when not pinned, so that an operator can copy it into --ir-sha256.
    tracing::info!(source = %origin, sha256 = %actual, bytes = bytes.len(), "IR archive read");
    if let Some(expected) = expected
        && expected != actual
    {
        return Err(FetchError::Sha256Mismatch {
            origin: origin.to_owned(),
            expected: expected.to_owned(),
            actual,
        });
    }
    Ok(archive::read_tar_gz(origin, bytes, limits)?.strip_single_top_dir())
}

fn read_archive_file(path: &Path, limits: &Limits) -> Result<Vec<u8>, FetchError> {
    let shown = path.display().to_string();
    let read_error = |source: std::io::Error| {
        if source.kind() == std::io::ErrorKind::NotFound {
            FetchError::NotFound {
                path: shown.clone(),
            }
        } else {
            FetchError::ReadArchive {
                path: shown.clone(),
                source,
            }
        }
    };
    // A FIFO or device would block or never end: refused before it is opened.
    if let Ok(meta) = std::fs::metadata(path)
        && !meta.is_file()
        && !meta.is_dir()
    {
        return Err(read_error(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "not a regular file (fifo, socket or device)",
        )));
    }
    let file = std::fs::File::open(path).map_err(read_error)?;
    let size = file.metadata().map_err(read_error)?.len();
    let too_large = |size| FetchError::ArchiveTooLarge {
        path: shown.clone(),
        size,
        limit: limits.max_total_bytes,
    };
    if size > limits.max_total_bytes {
        return Err(too_large(size));
    }
    let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    file.take(limits.max_total_bytes.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(read_error)?;
    if bytes.len() as u64 > limits.max_total_bytes {
        return Err(too_large(bytes.len() as u64));
    }
    Ok(bytes)
}

/// Lowercase, trimmed, 64 hex digits.
fn parse_sha256(value: &str) -> Result<String, FetchError> {
    let trimmed = value.trim();
    if trimmed.len() == 64 && trimmed.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(trimmed.to_ascii_lowercase())
    } else {
        Err(FetchError::InvalidSha256 {
            value: value.chars().take(80).collect(),
            len: value.chars().count(),
        })
    }
}

pub use crate::digest::sha256_hex;

/// `url` without its userinfo, query and fragment, safe to log and show.
///
/// Works on the raw string, so it also redacts what no URL parser would accept. Userinfo becomes
/// `***@` and a query `?***`, so the reader still sees that they were there.
pub fn redact_url(url: &str) -> String {
    let (scheme, rest) = match url.find("://") {
        Some(i) => url.split_at(i + 3),
        None => ("", url),
    };
    let (rest, had_query) = match rest.find(['?', '#']) {
        Some(i) => (&rest[..i], rest[i..].starts_with('?')),
        None => (rest, false),
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    let host = match authority.rfind('@') {
        Some(i) => format!("***@{}", &authority[i + 1..]),
        None => authority.to_owned(),
    };
    let query = if had_query { "?***" } else { "" };
    format!("{scheme}{host}{path}{query}")
}

/// Download `url` into memory, retrying transient failures.
async fn download(url: &str, limits: &Limits, http: &HttpOptions) -> Result<Vec<u8>, FetchError> {
    let shown = redact_url(url);
    if let Err(e) = reqwest::Url::parse(url) {
        return Err(FetchError::InvalidUrl {
            url: shown,
            reason: e.to_string(),
        });
    }
    // reqwest is built without a bundled crypto provider; an error only means one is installed.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::builder()
        .connect_timeout(http.connect_timeout)
        .read_timeout(http.read_timeout)
        .user_agent(concat!("modelops-executor/", env!("CARGO_PKG_VERSION")))
        // A redirect must not hand the original URL (and a token in its query) to another host.
        .referer(false)
        .build()
        .map_err(|e| FetchError::Client(e.without_url()))?;
    let max_attempts = http.max_attempts.max(1);
    let deadline = tokio::time::Instant::now() + http.total_timeout;
    let mut attempt = 1;
    loop {
        tracing::debug!(url = %shown, attempt, "downloading the IR");
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let failure = match try_download(&client, url, &shown, limits.max_total_bytes, left).await {
            Ok(bytes) => return Ok(bytes),
            Err(failure) => failure,
        };
        if !failure.is_retryable() || attempt >= max_attempts {
            return Err(failure.into_error(shown, attempt, limits.max_total_bytes));
        }
        let delay = match failure.retry_after() {
            Some(after) if after > http.max_retry_after => {
                tracing::warn!(
                    url = %shown,
                    retry_after_s = after.as_secs(),
                    capped_to_s = http.max_retry_after.as_secs(),
                    "the server asked to wait longer than the executor waits; retrying sooner"
                );
                http.max_retry_after
            }
            Some(after) => after,
            None => backoff(http, attempt),
        };
        if tokio::time::Instant::now() + delay >= deadline {
            return Err(FetchError::OutOfTime {
                url: shown,
                attempts: attempt,
                timeout: http.total_timeout,
                last: failure.to_string(),
            });
        }
        tracing::warn!(
            url = %shown,
            attempt,
            max_attempts,
            retry_in_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
            error = %failure,
            "IR download failed, will retry"
        );
        tokio::time::sleep(delay).await;
        attempt += 1;
    }
}

/// What went wrong in one attempt.
enum Failure {
    Status {
        status: StatusCode,
        retry_after: Option<Duration>,
    },
    /// Already stripped of its URL.
    Transport(reqwest::Error),
    TooLarge {
        size: Option<u64>,
    },
}

impl Failure {
    fn is_retryable(&self) -> bool {
        match self {
            Failure::Status { status, .. } => {
                *status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error()
            }
            // Connect failures, timeouts and connections dropped mid-body are worth another try;
            // a bad request or a redirect loop will not get better.
            Failure::Transport(e) => !e.is_builder() && !e.is_redirect(),
            Failure::TooLarge { .. } => false,
        }
    }

    fn retry_after(&self) -> Option<Duration> {
        match self {
            Failure::Status { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    fn into_error(self, url: String, attempts: u32, limit: u64) -> FetchError {
        match self {
            Failure::Status { status, .. } => FetchError::HttpStatus {
                url,
                status,
                attempts,
            },
            Failure::Transport(source) => FetchError::Download {
                url,
                attempts,
                source,
            },
            Failure::TooLarge { size } => FetchError::DownloadTooLarge { url, limit, size },
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Status { status, .. } => write!(f, "the server answered {status}"),
            Failure::Transport(e) => {
                // The chain holds the useful part ("Connection refused"); none of it has the URL.
                let messages: Vec<String> = crate::error_chain::messages(e).collect();
                f.write_str(&messages.join(": "))
            }
            Failure::TooLarge { .. } => f.write_str("the body is over the size limit"),
        }
    }
}

/// How often a download that has not finished says so.
const PROGRESS_EVERY: Duration = Duration::from_secs(15);

/// Awaits `step`, logging every [`PROGRESS_EVERY`] that the server is still being waited for
/// (a stalled server otherwise looks like a hung task for minutes).
async fn with_progress<T>(
    step: impl std::future::Future<Output = T>,
    shown: &str,
    received: usize,
) -> T {
    let started = tokio::time::Instant::now();
    let mut ticker = tokio::time::interval_at(started + PROGRESS_EVERY, PROGRESS_EVERY);
    tokio::pin!(step);
    loop {
        tokio::select! {
            done = &mut step => return done,
            _ = ticker.tick() => tracing::info!(
                url = %shown,
                waited_s = started.elapsed().as_secs(),
                received_bytes = received,
                "still waiting for the IR server"
            ),
        }
    }
}

async fn try_download(
    client: &reqwest::Client,
    url: &str,
    shown: &str,
    limit: u64,
    time_left: Duration,
) -> Result<Vec<u8>, Failure> {
    let transport = |e: reqwest::Error| Failure::Transport(e.without_url());
    let mut response = with_progress(client.get(url).timeout(time_left).send(), shown, 0)
        .await
        .map_err(transport)?;
    let status = response.status();
    if !status.is_success() {
        return Err(Failure::Status {
            status,
            retry_after: parse_retry_after(response.headers()),
        });
    }
    let announced = response.content_length();
    if let Some(size) = announced
        && size > limit
    {
        return Err(Failure::TooLarge { size: Some(size) });
    }
    let capacity = announced.unwrap_or(0).min(limit);
    let mut body = Vec::with_capacity(usize::try_from(capacity).unwrap_or(0));
    // Streamed chunk by chunk so that a body without Content-Length stops at the limit.
    while let Some(chunk) = with_progress(response.chunk(), shown, body.len())
        .await
        .map_err(transport)?
    {
        if (body.len() + chunk.len()) as u64 > limit {
            return Err(Failure::TooLarge { size: announced });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// The server's `Retry-After`, in delta-seconds (the one policy of [`crate::backoff`]).
fn parse_retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let value = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    crate::backoff::parse_retry_after(value).map(Duration::from_secs)
}

/// `initial_backoff · 2^(attempt-1)`, capped, then a random point in its upper half so that
/// many pipelines failing together do not retry in lock-step.
fn backoff(http: &HttpOptions, attempt: u32) -> Duration {
    Backoff {
        first: http.initial_backoff,
        max: http.max_backoff,
    }
    .jittered(attempt)
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::Compression;
    use flate2::write::GzEncoder;
    use std::io::Write;
    use std::net::{SocketAddr, TcpListener, TcpStream};
    use std::thread::JoinHandle;
    use std::time::Instant;

    /// `ir/pipeline.yaml` and `ir/flows/score.yaml`, as `tar czf ir.tgz ir/` would write them.
    fn ir_archive() -> Vec<u8> {
        let mut tar = tar::Builder::new(Vec::new());
        for (path, body) in [
            ("ir/pipeline.yaml", &b"kind: ScoringPipeline\n"[..]),
            ("ir/flows/score.yaml", b"kind: ScoringFlow\n"),
        ] {
            let mut header = tar::Header::new_gnu();
            header.set_mode(0o644);
            header.set_size(body.len() as u64);
            tar.append_data(&mut header, path, body).unwrap();
        }
        let mut gz = GzEncoder::new(Vec::new(), Compression::default());
        gz.write_all(&tar.into_inner().unwrap()).unwrap();
        gz.finish().unwrap()
    }

    fn paths(files: &Files) -> Vec<&str> {
        files.files.iter().map(|f| f.path.as_str()).collect()
    }

    /// Retries without the real backoff, so that tests stay fast.
    fn quick() -> HttpOptions {
        HttpOptions {
            connect_timeout: Duration::from_secs(2),
            read_timeout: Duration::from_secs(5),
            initial_backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(5),
            ..HttpOptions::default()
        }
    }

    /// Every message in the error's chain, for "no secret leaked" checks.
    fn chain(err: &(dyn std::error::Error + 'static)) -> String {
        crate::error_chain::messages(err)
            .collect::<Vec<_>>()
            .join(": ")
    }

    // --- a scripted HTTP/1.1 server on 127.0.0.1 ---

    struct Reply {
        status: &'static str,
        headers: Vec<(&'static str, String)>,
        body: Vec<u8>,
        /// Without it the body is delimited by closing the connection.
        content_length: bool,
        /// Accept and read the request, then say nothing for this long.
        stall: Option<Duration>,
    }

    impl Reply {
        fn ok(body: Vec<u8>) -> Self {
            Reply {
                status: "200 OK",
                headers: vec![("Content-Type", "application/gzip".to_owned())],
                body,
                content_length: true,
                stall: None,
            }
        }

        fn status(status: &'static str) -> Self {
            Reply {
                status,
                headers: vec![],
                body: b"nope".to_vec(),
                content_length: true,
                stall: None,
            }
        }

        fn header(mut self, name: &'static str, value: &str) -> Self {
            self.headers.push((name, value.to_owned()));
            self
        }
    }

    /// One request seen by the server: its request line and when it arrived.
    struct Seen {
        line: String,
        /// The whole request head.
        head: String,
        at: Instant,
    }

    /// Serves `replies` in order, one per connection, then stops; gives up after 10 s without a
    /// connection so that a failing test cannot leave it running.
    fn serve(replies: Vec<Reply>) -> (SocketAddr, JoinHandle<Vec<Seen>>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let handle = std::thread::spawn(move || {
            let mut seen = Vec::new();
            for reply in replies {
                let Some(stream) = accept(&listener, Duration::from_secs(10)) else {
                    break;
                };
                seen.push(answer(stream, reply));
            }
            seen
        });
        (addr, handle)
    }

    fn accept(listener: &TcpListener, patience: Duration) -> Option<TcpStream> {
        let deadline = Instant::now() + patience;
        while Instant::now() < deadline {
            match listener.accept() {
                Ok((stream, _)) => return Some(stream),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    std::thread::sleep(Duration::from_millis(2));
                }
                Err(e) => panic!("accept: {e}"),
            }
        }
        None
    }

    fn answer(mut stream: TcpStream, reply: Reply) -> Seen {
        stream.set_nonblocking(false).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let mut request = Vec::new();
        let mut buf = [0u8; 1024];
        while !request.windows(4).any(|w| w == b"\r\n\r\n") {
            match stream.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => request.extend_from_slice(&buf[..n]),
            }
        }
        let at = Instant::now();
        let request_head = String::from_utf8_lossy(&request).into_owned();
        let line = request_head.lines().next().unwrap_or_default().to_owned();
        if let Some(stall) = reply.stall {
            std::thread::sleep(stall);
            return Seen {
                line,
                head: request_head,
                at,
            };
        }
        let mut head = format!("HTTP/1.1 {}\r\nConnection: close\r\n", reply.status);
        for (name, value) in &reply.headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        if reply.content_length {
            head.push_str(&format!("Content-Length: {}\r\n", reply.body.len()));
        }
        head.push_str("\r\n");
        // The client may hang up early (oversize body): that is not the server's problem.
        let _ = stream
            .write_all(head.as_bytes())
            .and_then(|()| stream.write_all(&reply.body));
        Seen {
            line,
            head: request_head,
            at,
        }
    }

    fn url(addr: SocketAddr, path: &str) -> IrSource {
        IrSource::Url(format!("http://{addr}{path}"))
    }

    // --- parsing and helpers ---

    #[test]
    fn parse_recognises_urls_dirs_and_archives() {
        assert_eq!(
            IrSource::parse("https://example.com/ir.tgz"),
            IrSource::Url("https://example.com/ir.tgz".into())
        );
        assert_eq!(
            IrSource::parse("HTTP://example.com/ir.tgz"),
            IrSource::Url("HTTP://example.com/ir.tgz".into())
        );
        let dir = tempfile::tempdir().unwrap();
        let dir_arg = dir.path().to_str().unwrap();
        assert_eq!(
            IrSource::parse(dir_arg),
            IrSource::Dir(PathBuf::from(dir_arg))
        );
        assert_eq!(
            IrSource::parse("ir.tar.gz"),
            IrSource::Archive(PathBuf::from("ir.tar.gz"))
        );
        // Not existing, so not a directory: fetch will say it does not exist.
        assert_eq!(
            IrSource::parse("missing/dir"),
            IrSource::Archive(PathBuf::from("missing/dir"))
        );
        // Multi-byte characters must not trip the prefix check.
        assert_eq!(
            IrSource::parse("ééé.tgz"),
            IrSource::Archive(PathBuf::from("ééé.tgz"))
        );
        assert_eq!(IrSource::parse(""), IrSource::Archive(PathBuf::new()));
    }

    #[test]
    fn display_and_debug_of_a_source_redact_the_url() {
        let source = IrSource::parse("https://me:s3cret@host/ir.tgz?token=abc");
        assert_eq!(source.to_string(), "https://***@host/ir.tgz?***");
        let debug = format!("{source:?}");
        assert!(
            !debug.contains("s3cret") && !debug.contains("abc"),
            "{debug}"
        );
    }

    #[test]
    fn redact_url_hides_userinfo_query_and_fragment() {
        let cases = [
            (
                "https://user:pass@example.com/ir.tgz",
                "https://***@example.com/ir.tgz",
            ),
            (
                "https://example.com/ir.tgz?token=abc&x=1",
                "https://example.com/ir.tgz?***",
            ),
            (
                "https://u:p@example.com:8443/a/b.tgz?token=abc#frag",
                "https://***@example.com:8443/a/b.tgz?***",
            ),
            (
                "https://example.com/ir.tgz#frag",
                "https://example.com/ir.tgz",
            ),
            ("https://tok@example.com", "https://***@example.com"),
            ("https://a@b@example.com/x", "https://***@example.com/x"),
            ("https://example.com?sig=1", "https://example.com?***"),
            // An '@' in the path is not userinfo.
            (
                "https://example.com/users/@me/ir.tgz",
                "https://example.com/users/@me/ir.tgz",
            ),
            ("not a url?secret", "not a url?***"),
            ("https://example.com/ir.tgz", "https://example.com/ir.tgz"),
        ];
        for (input, expected) in cases {
            assert_eq!(redact_url(input), expected, "{input}");
        }
    }

    #[test]
    fn sha256_hex_is_lowercase_hex() {
        assert_eq!(
            sha256_hex(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn backoff_grows_with_jitter_and_is_capped() {
        let http = HttpOptions {
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(1000),
            ..HttpOptions::default()
        };
        for _ in 0..50 {
            let first = backoff(&http, 1);
            assert!(first >= Duration::from_millis(50) && first <= Duration::from_millis(100));
            let third = backoff(&http, 3);
            assert!(third >= Duration::from_millis(200) && third <= Duration::from_millis(400));
            let late = backoff(&http, 30);
            assert!(late >= Duration::from_millis(500) && late <= Duration::from_millis(1000));
        }
    }

    #[test]
    fn retry_after_accepts_seconds_only() {
        let mut headers = reqwest::header::HeaderMap::new();
        assert_eq!(parse_retry_after(&headers), None);
        headers.insert(reqwest::header::RETRY_AFTER, " 7 ".parse().unwrap());
        assert_eq!(parse_retry_after(&headers), Some(Duration::from_secs(7)));
        headers.insert(
            reqwest::header::RETRY_AFTER,
            "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap(),
        );
        assert_eq!(parse_retry_after(&headers), None);
    }

    // --- directories and archive files ---

    #[tokio::test]
    async fn reads_a_directory_without_stripping() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("ir/flows")).unwrap();
        std::fs::write(dir.path().join("ir/pipeline.yaml"), "p").unwrap();
        std::fs::write(dir.path().join("ir/flows/f.yaml"), "f").unwrap();
        let source = IrSource::parse(dir.path().to_str().unwrap());
        let files = fetch(&source, None, &Limits::default()).await.unwrap();
        assert_eq!(paths(&files), ["ir/flows/f.yaml", "ir/pipeline.yaml"]);
    }

    #[tokio::test]
    async fn sha256_is_refused_for_a_directory() {
        let dir = tempfile::tempdir().unwrap();
        let source = IrSource::Dir(dir.path().to_owned());
        let err = fetch(&source, Some(&"0".repeat(64)), &Limits::default())
            .await
            .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("--ir-sha256 applies to an archive or URL, not a directory"),
            "{err}"
        );
    }

    fn write_archive(dir: &Path) -> (IrSource, String) {
        let bytes = ir_archive();
        let path = dir.join("ir.tgz");
        std::fs::write(&path, &bytes).unwrap();
        (IrSource::parse(path.to_str().unwrap()), sha256_hex(&bytes))
    }

    #[tokio::test]
    async fn reads_an_archive_and_strips_its_top_dir() {
        let dir = tempfile::tempdir().unwrap();
        let (source, _) = write_archive(dir.path());
        assert!(matches!(source, IrSource::Archive(_)));
        let files = fetch(&source, None, &Limits::default()).await.unwrap();
        assert_eq!(paths(&files), ["flows/score.yaml", "pipeline.yaml"]);
        assert_eq!(
            files.origin,
            dir.path().join("ir.tgz").display().to_string()
        );
    }

    #[tokio::test]
    async fn archive_sha256_is_checked() {
        let dir = tempfile::tempdir().unwrap();
        let (source, sha) = write_archive(dir.path());
        let limits = Limits::default();

        assert!(fetch(&source, Some(&sha), &limits).await.is_ok());
        // Upper case and surrounding whitespace (from `$(cat ir.sha256)`) are accepted.
        let loud = format!(" {}\n", sha.to_uppercase());
        assert!(fetch(&source, Some(&loud), &limits).await.is_ok());

        let wrong = "ab".repeat(32);
        let err = fetch(&source, Some(&wrong), &limits).await.unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "{}: sha256 mismatch: expected {wrong} (--ir-sha256), got {sha}",
                dir.path().join("ir.tgz").display()
            )
        );
    }

    #[tokio::test]
    async fn invalid_sha256_is_rejected_before_reading() {
        let source = IrSource::Archive(PathBuf::from("/nonexistent/ir.tgz"));
        for bad in ["abc", &"g".repeat(64), &"a".repeat(65), ""] {
            let err = fetch(&source, Some(bad), &Limits::default())
                .await
                .unwrap_err();
            assert!(
                matches!(err, FetchError::InvalidSha256 { .. }),
                "{bad}: {err:?}"
            );
        }
        let err = fetch(&source, Some("xyz"), &Limits::default())
            .await
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "--ir-sha256 must be 64 hexadecimal characters, got 'xyz' (3 characters)"
        );
    }

    #[tokio::test]
    async fn missing_archive_says_what_was_expected() {
        let source = IrSource::parse("/nonexistent/ir");
        let err = fetch(&source, None, &Limits::default()).await.unwrap_err();
        assert_eq!(
            err.to_string(),
            "IR '/nonexistent/ir' does not exist: expected a directory, \
             a .tar.gz/.tgz archive or an http(s) URL"
        );
    }

    #[tokio::test]
    async fn oversized_archive_file_is_rejected_unread() {
        let dir = tempfile::tempdir().unwrap();
        let (source, _) = write_archive(dir.path());
        let limits = Limits {
            max_total_bytes: 10,
            ..Limits::default()
        };
        let err = fetch(&source, None, &limits).await.unwrap_err();
        assert!(
            matches!(err, FetchError::ArchiveTooLarge { limit: 10, .. }),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn archive_errors_name_the_archive() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ir.tgz");
        std::fs::write(&path, b"not gzip").unwrap();
        let err = fetch(&IrSource::Archive(path.clone()), None, &Limits::default())
            .await
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("{}: not a valid .tar.gz archive", path.display())
        );
    }

    // --- downloads ---

    #[tokio::test]
    async fn downloads_an_archive() {
        let archive = ir_archive();
        let sha = sha256_hex(&archive);
        let (addr, server) = serve(vec![Reply::ok(archive)]);
        let files = fetch_with(
            &url(addr, "/irs/ir.tgz"),
            Some(&sha),
            &Limits::default(),
            &quick(),
        )
        .await
        .unwrap();
        assert_eq!(paths(&files), ["flows/score.yaml", "pipeline.yaml"]);
        assert_eq!(files.origin, format!("http://{addr}/irs/ir.tgz"));
        let seen = server.join().unwrap();
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0].line, "GET /irs/ir.tgz HTTP/1.1");
    }

    #[tokio::test]
    async fn downloads_a_body_without_content_length() {
        let mut reply = Reply::ok(ir_archive());
        reply.content_length = false;
        let (addr, _server) = serve(vec![reply]);
        let files = fetch_with(&url(addr, "/ir.tgz"), None, &Limits::default(), &quick())
            .await
            .unwrap();
        assert_eq!(files.files.len(), 2);
    }

    #[tokio::test]
    async fn retries_after_503() {
        let (addr, server) = serve(vec![
            Reply::status("503 Service Unavailable"),
            Reply::status("502 Bad Gateway"),
            Reply::ok(ir_archive()),
        ]);
        let files = fetch_with(&url(addr, "/ir.tgz"), None, &Limits::default(), &quick())
            .await
            .unwrap();
        assert_eq!(files.files.len(), 2);
        assert_eq!(server.join().unwrap().len(), 3);
    }

    #[tokio::test]
    async fn gives_up_after_max_attempts() {
        let replies = (0..4)
            .map(|_| Reply::status("500 Internal Server Error"))
            .collect();
        let (addr, server) = serve(replies);
        let err = fetch_with(&url(addr, "/ir.tgz"), None, &Limits::default(), &quick())
            .await
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "cannot download http://{addr}/ir.tgz: the server answered \
                 500 Internal Server Error (after 4 attempt(s))"
            )
        );
        assert_eq!(server.join().unwrap().len(), 4);
    }

    #[tokio::test]
    async fn not_found_fails_at_once_with_the_status() {
        let (addr, server) = serve(vec![Reply::status("404 Not Found")]);
        let err = fetch_with(&url(addr, "/ir.tgz"), None, &Limits::default(), &quick())
            .await
            .unwrap_err();
        assert!(
            matches!(&err, FetchError::HttpStatus { status, attempts: 1, .. }
                if *status == StatusCode::NOT_FOUND),
            "{err:?}"
        );
        assert!(err.to_string().contains("404 Not Found"), "{err}");
        assert_eq!(server.join().unwrap().len(), 1);
    }

    #[tokio::test]
    async fn honours_retry_after() {
        let (addr, server) = serve(vec![
            Reply::status("429 Too Many Requests").header("Retry-After", "1"),
            Reply::ok(ir_archive()),
        ]);
        fetch_with(&url(addr, "/ir.tgz"), None, &Limits::default(), &quick())
            .await
            .unwrap();
        let seen = server.join().unwrap();
        let waited = seen[1].at - seen[0].at;
        assert!(waited >= Duration::from_millis(950), "waited {waited:?}");
    }

    #[tokio::test]
    async fn a_redirect_to_another_host_sends_no_referer() {
        let (target, target_server) = serve(vec![Reply::ok(ir_archive())]);
        let (first, first_server) = serve(vec![
            Reply::status("302 Found").header("Location", &format!("http://{target}/ir.tgz")),
        ]);
        fetch_with(
            &url(first, "/ir.tgz?token=s3cr3t"),
            None,
            &Limits::default(),
            &quick(),
        )
        .await
        .unwrap();
        assert_eq!(first_server.join().unwrap().len(), 1);
        let seen = target_server.join().unwrap();
        assert_eq!(seen.len(), 1);
        let head = seen[0].head.to_ascii_lowercase();
        assert!(
            !head.contains("referer") && !head.contains("s3cr3t"),
            "{head}"
        );
    }

    #[tokio::test]
    async fn retry_after_is_capped() {
        let (addr, server) = serve(vec![
            Reply::status("503 Service Unavailable").header("Retry-After", "3600"),
            Reply::ok(ir_archive()),
        ]);
        let http = HttpOptions {
            max_retry_after: Duration::from_millis(50),
            ..quick()
        };
        let start = Instant::now();
        fetch_with(&url(addr, "/ir.tgz"), None, &Limits::default(), &http)
            .await
            .unwrap();
        assert!(start.elapsed() < Duration::from_secs(5));
        assert_eq!(server.join().unwrap().len(), 2);
    }

    #[tokio::test]
    async fn oversize_body_is_rejected() {
        let limits = Limits {
            max_total_bytes: 1000,
            ..Limits::default()
        };
        // Announced by Content-Length: refused before reading, and not retried.
        let (addr, server) = serve(vec![Reply::ok(vec![0; 5000])]);
        let err = fetch_with(&url(addr, "/ir.tgz"), None, &limits, &quick())
            .await
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "download of http://{addr}/ir.tgz is over the limit of 1000 bytes \
                 (--max-input-bytes) (Content-Length: 5000)"
            )
        );
        assert_eq!(server.join().unwrap().len(), 1);

        // Not announced: stopped while streaming.
        let mut reply = Reply::ok(vec![0; 5000]);
        reply.content_length = false;
        let (addr, _server) = serve(vec![reply]);
        let err = fetch_with(&url(addr, "/ir.tgz"), None, &limits, &quick())
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                FetchError::DownloadTooLarge {
                    size: None,
                    limit: 1000,
                    ..
                }
            ),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn url_sha256_is_checked() {
        let (addr, _server) = serve(vec![Reply::ok(ir_archive())]);
        let wrong = "0".repeat(64);
        let err = fetch_with(
            &url(addr, "/ir.tgz?token=abc"),
            Some(&wrong),
            &Limits::default(),
            &quick(),
        )
        .await
        .unwrap_err();
        assert!(
            matches!(&err, FetchError::Sha256Mismatch { origin, expected, .. }
                if *origin == format!("http://{addr}/ir.tgz?***") && *expected == wrong),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn errors_never_show_credentials() {
        let (addr, server) = serve(vec![Reply::status("403 Forbidden")]);
        let source = IrSource::Url(format!("http://alice:s3cret@{addr}/ir.tgz?token=t0ps3cret"));
        let err = fetch_with(&source, None, &Limits::default(), &quick())
            .await
            .unwrap_err();
        let text = chain(&err);
        assert!(
            !text.contains("s3cret") && !text.contains("alice"),
            "{text}"
        );
        assert!(
            text.contains(&format!("http://***@{addr}/ir.tgz?***")),
            "{text}"
        );
        // The real URL was used for the request.
        let seen = server.join().unwrap();
        assert_eq!(seen[0].line, "GET /ir.tgz?token=t0ps3cret HTTP/1.1");

        // Transport errors from reqwest carry the URL unless it is stripped.
        let closed = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let source = IrSource::Url(format!("http://bob:pw123@{closed}/ir.tgz?sig=zzz999"));
        let err = fetch_with(&source, None, &Limits::default(), &quick())
            .await
            .unwrap_err();
        let text = chain(&err);
        assert!(
            !text.contains("pw123") && !text.contains("zzz999") && !text.contains("bob"),
            "{text}"
        );
    }

    #[tokio::test]
    async fn connection_errors_are_retried() {
        let closed = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let http = HttpOptions {
            max_attempts: 3,
            ..quick()
        };
        let err = fetch_with(&url(closed, "/ir.tgz"), None, &Limits::default(), &http)
            .await
            .unwrap_err();
        assert!(
            matches!(&err, FetchError::Download { attempts: 3, source, .. } if source.is_connect()),
            "{err:?}"
        );
        assert_eq!(
            err.to_string(),
            format!("cannot download http://{closed}/ir.tgz (gave up after 3 attempt(s))")
        );
    }

    #[tokio::test]
    async fn a_stalled_server_times_out_and_is_retried() {
        let stall = |_| Reply {
            stall: Some(Duration::from_millis(1500)),
            ..Reply::status("200 OK")
        };
        let (addr, server) = serve((0..2).map(stall).collect());
        let http = HttpOptions {
            read_timeout: Duration::from_millis(300),
            max_attempts: 2,
            ..quick()
        };
        let start = Instant::now();
        let err = fetch_with(&url(addr, "/ir.tgz"), None, &Limits::default(), &http)
            .await
            .unwrap_err();
        assert!(
            matches!(&err, FetchError::Download { attempts: 2, source, .. } if source.is_timeout()),
            "{err:?}"
        );
        assert!(start.elapsed() < Duration::from_secs(3));
        assert_eq!(server.join().unwrap().len(), 2);
    }

    #[tokio::test]
    async fn the_whole_download_stops_at_its_total_timeout_whatever_the_attempts_left() {
        let stall = |_| Reply {
            stall: Some(Duration::from_millis(1500)),
            ..Reply::status("200 OK")
        };
        let (addr, _server) = serve((0..3).map(stall).collect());
        let http = HttpOptions {
            read_timeout: Duration::from_secs(5),
            total_timeout: Duration::from_millis(700),
            max_attempts: 10,
            initial_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_millis(200),
            ..quick()
        };
        let start = Instant::now();
        let err = fetch_with(
            &url(addr, "/ir.tgz?token=s3cr3t"),
            None,
            &Limits::default(),
            &http,
        )
        .await
        .unwrap_err();
        assert!(
            start.elapsed() < Duration::from_millis(1400),
            "{:?}",
            start.elapsed()
        );
        let FetchError::OutOfTime { attempts, .. } = &err else {
            panic!("{err:?}")
        };
        assert!(*attempts >= 1 && *attempts < 10, "{err:?}");
        let message = chain(&err);
        assert!(message.contains("--ir-timeout"), "{message}");
        assert!(!message.contains("s3cr3t"), "{message}");
    }

    #[tokio::test]
    async fn downloaded_garbage_is_an_archive_error_naming_the_url() {
        let (addr, _server) = serve(vec![Reply::ok(b"<html>login</html>".to_vec())]);
        let err = fetch_with(
            &url(addr, "/ir.tgz?t=1"),
            None,
            &Limits::default(),
            &quick(),
        )
        .await
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("http://{addr}/ir.tgz?***: not a valid .tar.gz archive")
        );
    }

    #[tokio::test]
    async fn invalid_url_is_reported() {
        let source = IrSource::parse("http://exa mple.com:99999/ir.tgz?token=abc");
        let err = fetch_with(&source, None, &Limits::default(), &quick())
            .await
            .unwrap_err();
        assert!(matches!(err, FetchError::InvalidUrl { .. }), "{err:?}");
        assert!(!err.to_string().contains("abc"));
    }
}
