//! `fetch-models`: puts every model of a scoring service under `<modelDir>/<name>/<version>/`.
//!
//! Each artifact is streamed to a `.part` file while its sha256 is computed, checked against the
//! pinned digest, then renamed into place (plain files) or unpacked with the IR's archive rules
//! into a scratch directory that is renamed into place (`.tar.gz`/`.tgz`). A restarted init
//! container therefore never trusts half-written data, and a model already present with its
//! pinned digest is skipped. Transfers are retried with backoff; a failure names model, version,
//! URI and reason. Credentials come from the environment (the Secret's keys) and never appear in
//! a message: every message passes through [`Redactor`].

use super::uri::{ArchiveKind, ArtifactUri, Store, UriError};
use crate::archive::{self, ArchiveError, Limits};
use crate::backoff::Backoff;
use crate::error_chain::one_line_distinct;
use bytes::Bytes;
use futures::stream::{BoxStream, StreamExt};
use object_store::ObjectStoreExt;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// One entry of the model list the chart renders (`models.json` of the `<service>-models`
/// ConfigMap: a JSON array; other fields, such as `format`, are the runtime's and ignored here).
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct ModelEntry {
    pub name: String,
    pub version: String,
    pub uri: String,
    #[serde(default)]
    pub sha256: Option<String>,
}

/// How fetch-models works; the CLI's flags.
#[derive(Debug, Clone)]
pub struct Options {
    pub model_dir: PathBuf,
    /// Models downloaded at once.
    pub concurrency: usize,
    /// Tries per model for transient failures (connection, 5xx, timeouts).
    pub attempts: u32,
    /// First retry delay; doubled each time, at most 30 s.
    pub backoff: Duration,
    /// Largest artifact accepted, in bytes.
    pub max_bytes: u64,
    /// Longest silence on a connection before the try fails.
    pub read_timeout: Duration,
    pub connect_timeout: Duration,
    /// How often a progress line is logged during a download.
    pub progress_every: Duration,
    /// Where the credentials Secret is mounted as files (`--credentials-dir`).
    pub credentials_dir: Option<PathBuf>,
    /// Hash and write on a thread of their own, overlapped with the download (see [`Sink`]).
    pub overlap_writes: bool,
}

impl Options {
    /// What an unpacked archive may hold: the artifact's own limit for the total, many files.
    fn archive_limits(&self) -> Limits {
        Limits {
            max_total_bytes: self.max_bytes.saturating_mul(4),
            max_entries: 100_000,
            max_file_bytes: self.max_bytes.saturating_mul(4),
        }
    }
}

/// Why one model could not be fetched.
#[derive(Debug, thiserror::Error)]
pub enum Reason {
    #[error("not found")]
    NotFound,
    #[error("access denied by {store} (check the credentials Secret): {detail}")]
    AccessDenied { store: &'static str, detail: String },
    #[error("sha256 mismatch: expected {expected}, got {actual}")]
    ChecksumMismatch { expected: String, actual: String },
    #[error("too large: over the limit of {limit} bytes (--max-model-bytes)")]
    TooLarge { limit: u64 },
    #[error("{0}")]
    Uri(#[from] UriError),
    #[error("{0}")]
    Invalid(String),
    #[error("transfer failed after {attempts} attempt(s): {detail}")]
    Transfer { attempts: u32, detail: String },
    #[error("cannot unpack: {0}")]
    Unpack(String),
    #[error("cannot write {path}: {detail}")]
    Disk { path: String, detail: String },
}

/// A failed model, with everything an operator needs to find it.
#[derive(Debug, thiserror::Error)]
#[error("model `{name}` version `{version}` from {uri}: {reason}")]
pub struct ModelError {
    pub name: String,
    pub version: String,
    pub uri: String,
    pub reason: Reason,
}

/// Every model that failed (the others were fetched).
#[derive(Debug, thiserror::Error)]
pub enum FetchModelsError {
    #[error("cannot read the model list {path}: {reason}")]
    ModelList { path: String, reason: String },
    #[error("{} of {total} model(s) could not be fetched:{}", failed.len(), list(failed))]
    Failed {
        total: usize,
        failed: Vec<ModelError>,
    },
}

fn list(failed: &[ModelError]) -> String {
    failed.iter().map(|e| format!("\n  - {e}")).collect()
}

/// What happened to one model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Downloaded {
        bytes: u64,
    },
    /// Present with its pinned digest: not downloaded again.
    Skipped,
}

/// Reads and checks the model list: names and versions must be usable as one directory name.
pub fn read_model_list(path: &Path) -> Result<Vec<ModelEntry>, FetchModelsError> {
    let fail = |reason: String| FetchModelsError::ModelList {
        path: path.display().to_string(),
        reason,
    };
    let text = std::fs::read_to_string(path).map_err(|e| fail(e.to_string()))?;
    let models: Vec<ModelEntry> = serde_json::from_str(&text).map_err(|e| {
        fail(format!(
            "not a JSON list of {{name, version, uri, sha256}}: {e}"
        ))
    })?;
    if models.is_empty() {
        return Err(fail("the list is empty".into()));
    }
    let mut seen = std::collections::BTreeSet::new();
    for (i, model) in models.iter().enumerate() {
        for (field, value) in [("name", &model.name), ("version", &model.version)] {
            if let Err(reason) = check_segment(value) {
                return Err(fail(format!("[{i}].{field} `{value}`: {reason}")));
            }
        }
        if let Some(sha) = &model.sha256
            && !crate::digest::is_sha256_hex(sha)
        {
            return Err(fail(format!(
                "[{i}].sha256 `{sha}`: not 64 hex digits (model `{}`)",
                model.name
            )));
        }
        if !seen.insert((&model.name, &model.version)) {
            return Err(fail(format!(
                "model `{}` version `{}` is listed twice",
                model.name, model.version
            )));
        }
    }
    Ok(models)
}

/// A name or version becomes one directory level: no separators, no `.`/`..`, no hidden names
/// (they would clash with the `.part` and marker files).
fn check_segment(value: &str) -> Result<(), &'static str> {
    if value.is_empty() || value.len() > 128 {
        return Err("must be 1-128 characters");
    }
    if value.starts_with('.') {
        return Err("must not start with `.`");
    }
    if value.contains(['/', '\\', '\0', ':']) || value.chars().any(char::is_control) {
        return Err("must not contain `/`, `\\`, `:` or control characters");
    }
    Ok(())
}

/// Fetches every model, `concurrency` at a time; returns each model's outcome in list order, or
/// every failure.
pub async fn fetch_models(
    models: &[ModelEntry],
    options: &Options,
) -> Result<Vec<Outcome>, FetchModelsError> {
    // reqwest is built without a bundled crypto provider; an error only means one is installed.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let redactor = Arc::new(Redactor::from_env());
    let results: Vec<Result<Outcome, ModelError>> = futures::stream::iter(models)
        .map(|model| {
            let redactor = redactor.clone();
            async move {
                fetch_one(model, options, &redactor)
                    .await
                    .map_err(|reason| ModelError {
                        name: model.name.clone(),
                        version: model.version.clone(),
                        uri: redactor.clean(&model.uri),
                        reason: redactor.clean_reason(reason),
                    })
            }
        })
        .buffered(options.concurrency.max(1))
        .collect()
        .await;
    let total = results.len();
    let mut outcomes = Vec::with_capacity(total);
    let mut failed = Vec::new();
    for result in results {
        match result {
            Ok(outcome) => outcomes.push(outcome),
            Err(err) => failed.push(err),
        }
    }
    if failed.is_empty() {
        Ok(outcomes)
    } else {
        Err(FetchModelsError::Failed { total, failed })
    }
}

/// Where one model goes.
struct Layout {
    /// `<modelDir>/<name>/<version>`
    version_dir: PathBuf,
    /// `<modelDir>/<name>/.<version>.sha256`: the verified digest of an unpacked archive.
    marker: PathBuf,
    /// Scratch space for this model, next to its final place (same filesystem: renames are atomic).
    scratch: PathBuf,
}

impl Layout {
    fn new(dir: &Path, model: &ModelEntry) -> Layout {
        let name_dir = dir.join(&model.name);
        Layout {
            version_dir: name_dir.join(&model.version),
            marker: name_dir.join(format!(".{}.sha256", model.version)),
            scratch: name_dir.join(format!(".{}.part", model.version)),
        }
    }
}

async fn fetch_one(
    model: &ModelEntry,
    options: &Options,
    redactor: &Redactor,
) -> Result<Outcome, Reason> {
    let uri = ArtifactUri::parse(&model.uri)?;
    let layout = Layout::new(&options.model_dir, model);
    let archive = uri.archive_kind();
    let expected = model.sha256.as_deref().map(str::to_ascii_lowercase);
    let final_file = layout.version_dir.join(uri.file_name());
    if let Some(expected) = &expected
        && already_present(&layout, &final_file, archive.is_some(), expected).await
    {
        tracing::info!(model = %model.name, version = %model.version, "already present with sha256 {expected}, skipped");
        return Ok(Outcome::Skipped);
    }
    let source = Source::new(&uri, options)?;
    tracing::info!(model = %model.name, version = %model.version, uri = %redactor.clean(&uri.raw), "downloading");
    let disk = |path: &Path, e: std::io::Error| Reason::Disk {
        path: path.display().to_string(),
        detail: e.to_string(),
    };
    // A previous, interrupted try may have left scratch files.
    remove_any(&layout.scratch)
        .await
        .map_err(|e| disk(&layout.scratch, e))?;
    tokio::fs::create_dir_all(&layout.scratch)
        .await
        .map_err(|e| disk(&layout.scratch, e))?;
    let part = layout.scratch.join(format!("{}.part", uri.file_name()));
    let (bytes, actual) = download_with_retries(&source, &part, model, options, redactor).await?;
    match &expected {
        Some(expected) if *expected != actual => {
            let _ = remove_any(&layout.scratch).await;
            return Err(Reason::ChecksumMismatch {
                expected: expected.clone(),
                actual,
            });
        }
        Some(_) => {
            tracing::info!(model = %model.name, version = %model.version, bytes, "sha256 verified")
        }
        None => {
            tracing::warn!(model = %model.name, version = %model.version, sha256 = %actual, "no sha256 pinned in the pipeline: not verified")
        }
    }
    // Into place: the version directory is replaced as a whole.
    let staged = layout.scratch.join("content");
    if let Some(kind) = archive {
        let limits = options.archive_limits();
        let origin = uri.raw.clone();
        let (part_c, staged_c) = (part.clone(), staged.clone());
        let (files, unpacked) = tokio::task::spawn_blocking(move || {
            std::fs::create_dir(&staged_c).map_err(|e| ArchiveError::Write {
                origin: origin.clone(),
                path: staged_c.display().to_string(),
                source: e,
            })?;
            let file = std::fs::File::open(&part_c).map_err(|e| ArchiveError::Io {
                origin: origin.clone(),
                path: part_c.display().to_string(),
                source: e,
            })?;
            match kind {
                ArchiveKind::TarGz => archive::unpack_tar_gz(
                    &origin,
                    std::io::BufReader::with_capacity(256 * 1024, file),
                    &staged_c,
                    &limits,
                ),
                ArchiveKind::Zip => archive::unpack_zip(&origin, file, &staged_c, &limits),
            }
        })
        .await
        .map_err(|e| Reason::Unpack(e.to_string()))?
        .map_err(|e| Reason::Unpack(one_line_distinct(&e)))?;
        tracing::info!(model = %model.name, version = %model.version, files, bytes = unpacked, "unpacked");
    } else {
        tokio::fs::create_dir(&staged)
            .await
            .map_err(|e| disk(&staged, e))?;
        tokio::fs::rename(&part, staged.join(uri.file_name()))
            .await
            .map_err(|e| disk(&staged, e))?;
    }
    // The marker goes first: a stale marker from an older version of this model must never
    // vouch for the new content.
    remove_any(&layout.marker)
        .await
        .map_err(|e| disk(&layout.marker, e))?;
    remove_any(&layout.version_dir)
        .await
        .map_err(|e| disk(&layout.version_dir, e))?;
    tokio::fs::rename(&staged, &layout.version_dir)
        .await
        .map_err(|e| disk(&layout.version_dir, e))?;
    if archive.is_some() {
        tokio::fs::write(&layout.marker, format!("{actual}\n"))
            .await
            .map_err(|e| disk(&layout.marker, e))?;
    }
    remove_any(&layout.scratch)
        .await
        .map_err(|e| disk(&layout.scratch, e))?;
    tracing::info!(model = %model.name, version = %model.version, dir = %layout.version_dir.display(), "ready");
    Ok(Outcome::Downloaded { bytes })
}

/// A plain file is present when it hashes to the pinned digest; an archive when its marker
/// records the pinned digest and the unpacked directory exists.
async fn already_present(layout: &Layout, file: &Path, archive: bool, expected: &str) -> bool {
    if archive {
        let marker = tokio::fs::read_to_string(&layout.marker)
            .await
            .unwrap_or_default();
        return marker.trim() == expected && layout.version_dir.is_dir();
    }
    let file = file.to_path_buf();
    tokio::task::spawn_blocking(move || sha256_of_file(&file))
        .await
        .ok()
        .and_then(Result::ok)
        .is_some_and(|actual| actual == expected)
}

fn sha256_of_file(path: &Path) -> std::io::Result<String> {
    use std::io::Read;
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 256 * 1024];
    loop {
        match file.read(&mut buffer)? {
            0 => return Ok(crate::digest::to_hex(&hasher.finalize())),
            n => hasher.update(&buffer[..n]),
        }
    }
}

async fn remove_any(path: &Path) -> std::io::Result<()> {
    match tokio::fs::symlink_metadata(path).await {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
        Ok(meta) if meta.is_dir() => tokio::fs::remove_dir_all(path).await,
        Ok(_) => tokio::fs::remove_file(path).await,
    }
}

/// One try's failure, classified so the retry loop knows whether trying again can help.
enum TryError {
    /// Worth another try (connection, timeout, 5xx).
    Transient(String),
    Final(Reason),
}

async fn download_with_retries(
    source: &Source,
    part: &Path,
    model: &ModelEntry,
    options: &Options,
    redactor: &Redactor,
) -> Result<(u64, String), Reason> {
    let attempts = options.attempts.max(1);
    // Doubling up to 30 s, not jittered (as this loop always was).
    let backoff = Backoff {
        first: options.backoff,
        max: Duration::from_secs(30),
    };
    for attempt in 1..=attempts {
        let delay = backoff.delay(attempt);
        match download_once(source, part, model, options).await {
            Ok(done) => return Ok(done),
            Err(TryError::Final(reason)) => return Err(reason),
            Err(TryError::Transient(detail)) if attempt == attempts => {
                return Err(Reason::Transfer { attempts, detail });
            }
            Err(TryError::Transient(detail)) => {
                tracing::warn!(
                    model = %model.name,
                    version = %model.version,
                    attempt,
                    attempts,
                    retry_in_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                    error = %redactor.clean(&detail),
                    "download failed, will retry"
                );
                tokio::time::sleep(delay).await;
            }
        }
    }
    unreachable!("the loop returns on its last attempt")
}

/// Streams the artifact into `part` (created anew), hashing as it goes.
async fn download_once(
    source: &Source,
    part: &Path,
    model: &ModelEntry,
    options: &Options,
) -> Result<(u64, String), TryError> {
    let (size, mut stream) = source.open().await?;
    if let Some(size) = size
        && size > options.max_bytes
    {
        return Err(TryError::Final(Reason::TooLarge {
            limit: options.max_bytes,
        }));
    }
    let disk = |e: std::io::Error| {
        TryError::Final(Reason::Disk {
            path: part.display().to_string(),
            detail: e.to_string(),
        })
    };
    let file = std::fs::File::create(part).map_err(disk)?;
    let mut sink = Sink::new(file, options.overlap_writes);
    let mut written = 0u64;
    let started = Instant::now();
    let mut last_report = started;
    let mut failure = None;
    while let Some(chunk) = stream.next().await {
        let chunk = match chunk {
            Ok(chunk) => chunk,
            Err(e) => {
                failure = Some(e);
                break;
            }
        };
        written += chunk.len() as u64;
        if written > options.max_bytes {
            failure = Some(TryError::Final(Reason::TooLarge {
                limit: options.max_bytes,
            }));
            break;
        }
        if !sink.write(chunk).await {
            break; // a disk error, reported by `finish` below
        }
        if last_report.elapsed() >= options.progress_every {
            last_report = Instant::now();
            tracing::info!(
                model = %model.name,
                version = %model.version,
                mib = written / (1024 * 1024),
                of_mib = size.map(|s| s / (1024 * 1024)),
                mib_per_s = (written as f64 / 1_048_576.0 / started.elapsed().as_secs_f64()).round(),
                "downloading"
            );
        }
    }
    // Always finish the sink, even after a failure: the next try re-creates the same file.
    let digest = sink.finish().await.map_err(disk)?;
    if let Some(failure) = failure {
        return Err(failure);
    }
    if let Some(size) = size
        && written != size
    {
        return Err(TryError::Transient(format!(
            "the connection ended after {written} of {size} bytes"
        )));
    }
    Ok((written, digest))
}

/// Where a download's bytes go: each chunk is hashed, then written to the `.part` file.
///
/// The executor runs on a single-threaded runtime (`main`), and which sink is fastest depends on
/// the CPUs the process may use (measured: docs/benchmarks.md): with one (an init container with
/// the chart's 1-CPU limit), hashing each chunk in the downloading task while it is still in the
/// CPU's cache; with two or more, hashing on a thread of its own, overlapped with the download.
///
/// No fsync: the file is in the pod's model volume, and what could survive a crash half-written
/// is never trusted: a plain file is re-hashed before it is skipped, and an archive is unpacked
/// from it into files that are synced before its marker is written. (Syncing 300 MiB cost more
/// than the download itself: docs/benchmarks.md.)
enum Sink {
    /// The writer, or the error that stopped it. Page-cache writes do not block for long; a
    /// stalled disk stalls the download, which is what it should do.
    Inline(std::io::Result<HashingWriter>),
    /// At most QUEUED_CHUNKS pieces of at most QUEUED_CHUNK_BYTES wait for the thread: memory
    /// stays flat in the object's size, whatever size of chunk the client hands over.
    Thread {
        chunks: tokio::sync::mpsc::Sender<Bytes>,
        done: tokio::task::JoinHandle<std::io::Result<String>>,
    },
}

const QUEUED_CHUNKS: usize = 8;
const QUEUED_CHUNK_BYTES: usize = 1024 * 1024;

impl Sink {
    fn new(file: std::fs::File, overlapped: bool) -> Sink {
        let writer = HashingWriter::new(file);
        if !overlapped {
            return Sink::Inline(Ok(writer));
        }
        let (chunks, mut received) = tokio::sync::mpsc::channel::<Bytes>(QUEUED_CHUNKS);
        let done = tokio::task::spawn_blocking(move || {
            let mut writer = writer;
            while let Some(chunk) = received.blocking_recv() {
                writer.write(&chunk)?;
            }
            writer.finish()
        });
        Sink::Thread { chunks, done }
    }

    /// Takes one chunk; false once the sink has failed (`finish` says why).
    async fn write(&mut self, mut chunk: Bytes) -> bool {
        match self {
            Sink::Inline(Ok(writer)) => match writer.write(&chunk) {
                Ok(()) => true,
                Err(e) => {
                    *self = Sink::Inline(Err(e));
                    false
                }
            },
            Sink::Inline(Err(_)) => false,
            // In pieces: no copy, the pieces share the chunk's buffer, freed once the thread is
            // done with all of them. A send fails only once the thread has stopped on an error.
            Sink::Thread { chunks, .. } => {
                while chunk.len() > QUEUED_CHUNK_BYTES {
                    if chunks
                        .send(chunk.split_to(QUEUED_CHUNK_BYTES))
                        .await
                        .is_err()
                    {
                        return false;
                    }
                }
                chunks.send(chunk).await.is_ok()
            }
        }
    }

    /// Flushes the file and returns the sha256 of everything written, as hex.
    async fn finish(self) -> std::io::Result<String> {
        match self {
            Sink::Inline(writer) => writer?.finish(),
            Sink::Thread { chunks, done } => {
                drop(chunks);
                done.await.map_err(std::io::Error::other)?
            }
        }
    }
}

struct HashingWriter {
    out: std::io::BufWriter<std::fs::File>,
    hasher: Sha256,
}

impl HashingWriter {
    /// Chunks of at least the buffer's size go to the file directly, small ones (a TLS record's
    /// worth) are gathered first: the download is not copied once more on its way.
    fn new(file: std::fs::File) -> HashingWriter {
        HashingWriter {
            out: std::io::BufWriter::with_capacity(64 * 1024, file),
            hasher: Sha256::new(),
        }
    }

    fn write(&mut self, chunk: &[u8]) -> std::io::Result<()> {
        use std::io::Write;
        self.hasher.update(chunk);
        self.out.write_all(chunk)
    }

    fn finish(mut self) -> std::io::Result<String> {
        use std::io::Write;
        self.out.flush()?;
        Ok(crate::digest::to_hex(&self.hasher.finalize()))
    }
}

type Chunks = BoxStream<'static, Result<Bytes, TryError>>;

/// Where bytes come from: an object store, a web server or a local file.
enum Source {
    Store {
        store: Arc<dyn object_store::ObjectStore>,
        path: object_store::path::Path,
        name: &'static str,
    },
    Http {
        client: reqwest::Client,
        url: String,
    },
    File(PathBuf),
}

impl Source {
    fn new(uri: &ArtifactUri, options: &Options) -> Result<Source, Reason> {
        let client = client_options(uri, options);
        // Our retry loop owns retries (and restarts the stream); object_store's own is off.
        let retry = object_store::RetryConfig {
            max_retries: 0,
            ..Default::default()
        };
        let config = |e: object_store::Error| {
            Reason::Invalid(format!(
                "the {} settings in the environment are unusable: {e}",
                uri.store.name()
            ))
        };
        let store: Arc<dyn object_store::ObjectStore> = match uri.store {
            Store::S3 => {
                use object_store::aws::{AmazonS3Builder as B, AmazonS3ConfigKey as K};
                let builder = with_env(
                    B::new().with_client_options(client).with_retry(retry),
                    "AWS_",
                    |b: B, k: K, v| b.with_config(k, v),
                );
                Arc::new(
                    builder
                        .with_bucket_name(&uri.bucket)
                        .build()
                        .map_err(config)?,
                )
            }
            Store::Gcs => {
                use object_store::gcp::{GoogleCloudStorageBuilder as B, GoogleConfigKey as K};
                let mut builder = with_env(
                    B::new().with_client_options(client).with_retry(retry),
                    "GOOGLE_",
                    |b: B, k: K, v| b.with_config(k, v),
                );
                if let Some(file) = mounted_service_account(options.credentials_dir.as_deref()) {
                    builder = builder.with_service_account_path(file.to_string_lossy());
                }
                Arc::new(
                    builder
                        .with_bucket_name(&uri.bucket)
                        .build()
                        .map_err(config)?,
                )
            }
            Store::Azure => {
                use object_store::azure::{AzureConfigKey as K, MicrosoftAzureBuilder as B};
                let mut builder = with_env(
                    B::new().with_client_options(client).with_retry(retry),
                    "AZURE_",
                    |b: B, k: K, v| b.with_config(k, v),
                );
                if let Some(account) = &uri.account {
                    builder = builder.with_account(account);
                }
                Arc::new(
                    builder
                        .with_container_name(&uri.bucket)
                        .build()
                        .map_err(config)?,
                )
            }
            Store::Http => {
                let client = reqwest::Client::builder()
                    .connect_timeout(options.connect_timeout)
                    .read_timeout(options.read_timeout)
                    .user_agent(concat!("modelops-executor/", env!("CARGO_PKG_VERSION")))
                    .build()
                    .map_err(|e| Reason::Invalid(format!("cannot set up HTTP: {e}")))?;
                return Ok(Source::Http {
                    client,
                    url: uri.raw.clone(),
                });
            }
            Store::File => return Ok(Source::File(PathBuf::from(&uri.key))),
        };
        let path = object_store::path::Path::parse(&uri.key)
            .unwrap_or_else(|_| object_store::path::Path::from(uri.key.as_str()));
        Ok(Source::Store {
            store,
            path,
            name: uri.store.name(),
        })
    }

    /// Starts one transfer: the size when known, and the bytes.
    async fn open(&self) -> Result<(Option<u64>, Chunks), TryError> {
        match self {
            Source::Store { store, path, name } => {
                let name = *name;
                let result = store.get(path).await.map_err(|e| store_error(name, e))?;
                let size = result.meta.size;
                let stream = result
                    .into_stream()
                    .map(move |chunk| chunk.map_err(|e| store_error(name, e)))
                    .boxed();
                Ok((Some(size), stream))
            }
            Source::Http { client, url } => {
                let response = client
                    .get(url)
                    .send()
                    .await
                    .map_err(|e| TryError::Transient(one_line_distinct(&e.without_url())))?;
                let status = response.status();
                if !status.is_success() {
                    let reason = match status.as_u16() {
                        404 | 410 => TryError::Final(Reason::NotFound),
                        401 | 403 => TryError::Final(Reason::AccessDenied {
                            store: "the web server",
                            detail: format!("HTTP {status}"),
                        }),
                        429 | 500..=599 => TryError::Transient(format!("HTTP {status}")),
                        _ => TryError::Final(Reason::Invalid(format!("HTTP {status}"))),
                    };
                    return Err(reason);
                }
                let size = response.content_length();
                let stream = response
                    .bytes_stream()
                    .map(|chunk| {
                        chunk.map_err(|e| TryError::Transient(one_line_distinct(&e.without_url())))
                    })
                    .boxed();
                Ok((size, stream))
            }
            Source::File(path) => {
                let file = match tokio::fs::File::open(path).await {
                    Ok(file) => file,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                        return Err(TryError::Final(Reason::NotFound));
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
                        return Err(TryError::Final(Reason::AccessDenied {
                            store: "the local filesystem",
                            detail: e.to_string(),
                        }));
                    }
                    Err(e) => return Err(TryError::Final(Reason::Invalid(e.to_string()))),
                };
                let size = file.metadata().await.ok().map(|m| m.len());
                let stream = futures::stream::unfold(Some(file), |file| async move {
                    use tokio::io::AsyncReadExt;
                    let mut file = file?;
                    let mut buffer = vec![0u8; 256 * 1024];
                    match file.read(&mut buffer).await {
                        Ok(0) => None,
                        Ok(n) => {
                            buffer.truncate(n);
                            Some((Ok(Bytes::from(buffer)), Some(file)))
                        }
                        Err(e) => Some((Err(TryError::Transient(e.to_string())), None)),
                    }
                })
                .boxed();
                Ok((size, stream))
            }
        }
    }
}

fn store_error(store: &'static str, err: object_store::Error) -> TryError {
    use object_store::Error as E;
    match err {
        E::NotFound { .. } => TryError::Final(Reason::NotFound),
        E::PermissionDenied { .. } | E::Unauthenticated { .. } => {
            TryError::Final(Reason::AccessDenied {
                store,
                detail: first_line(&one_line_distinct(&err)),
            })
        }
        other => TryError::Transient(first_line(&one_line_distinct(&other))),
    }
}

/// The service-account file of the mounted credentials Secret, unless the environment already
/// names credentials of its own (a variable wins over the mounted file).
fn mounted_service_account(dir: Option<&Path>) -> Option<PathBuf> {
    let named_in_env = [
        "GOOGLE_SERVICE_ACCOUNT",
        "GOOGLE_SERVICE_ACCOUNT_PATH",
        "GOOGLE_SERVICE_ACCOUNT_KEY",
        "GOOGLE_APPLICATION_CREDENTIALS",
    ]
    .iter()
    .any(|name| std::env::var_os(name).is_some());
    let file = dir?.join(super::credentials::GOOGLE_CREDENTIALS_FILE);
    (!named_in_env && file.is_file()).then_some(file)
}

/// Timeouts for large transfers: no cap on the whole request (a 2 GiB model on a slow link is
/// fine), but a cap on silence. Plain `http://` endpoints only where the environment points at one.
fn client_options(uri: &ArtifactUri, options: &Options) -> object_store::ClientOptions {
    let env_http = |name: &str| std::env::var(name).is_ok_and(|v| v.starts_with("http://"));
    let allow_http = match uri.store {
        Store::S3 => env_http("AWS_ENDPOINT_URL") || env_http("AWS_ENDPOINT"),
        // The base URL comes from the credentials file (gcs_base_url); GCS's own default.
        Store::Gcs => true,
        Store::Azure => {
            env_http("AZURE_STORAGE_ENDPOINT")
                || std::env::var("AZURE_STORAGE_USE_EMULATOR").is_ok_and(|v| v == "true")
        }
        Store::Http | Store::File => false,
    };
    object_store::ClientOptions::new()
        .with_allow_http(allow_http)
        .with_timeout_disabled()
        .with_connect_timeout(options.connect_timeout)
        .with_read_timeout(options.read_timeout)
}

/// Applies to `builder` every environment variable starting with `prefix` that names one of its
/// settings, the way object_store's `from_env` reads them (lowercased key); unknown ones are
/// ignored, as there.
fn with_env<B, K: std::str::FromStr>(
    builder: B,
    prefix: &str,
    apply: impl Fn(B, K, String) -> B,
) -> B {
    std::env::vars()
        .filter(|(key, _)| key.starts_with(prefix))
        .fold(builder, |builder, (key, value)| {
            match key.to_ascii_lowercase().parse() {
                Ok(key) => apply(builder, key, value),
                Err(_) => builder,
            }
        })
}

fn first_line(text: &str) -> String {
    let line = text.lines().next().unwrap_or_default();
    if line.len() > 400 {
        let cut = (0..=400)
            .rev()
            .find(|&i| line.is_char_boundary(i))
            .unwrap_or(0);
        format!("{}…", &line[..cut])
    } else {
        line.to_string()
    }
}

/// Removes credentials from anything shown: the values of the secret variables of every store,
/// and the signature of SAS tokens and presigned URLs.
#[derive(Debug, Default)]
pub struct Redactor {
    secrets: Vec<String>,
}

/// The variables whose values are secret (docs/artifact-stores.md's names and object_store's aliases).
const SECRET_VARIABLES: [&str; 9] = [
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AZURE_STORAGE_ACCOUNT_KEY",
    "AZURE_STORAGE_ACCESS_KEY",
    "AZURE_STORAGE_SAS_KEY",
    "AZURE_STORAGE_SAS_TOKEN",
    "AZURE_STORAGE_TOKEN",
    "AZURE_STORAGE_CLIENT_SECRET",
    "GOOGLE_SERVICE_ACCOUNT_KEY",
];

impl Redactor {
    pub fn from_env() -> Redactor {
        Redactor::new(
            SECRET_VARIABLES
                .iter()
                .filter_map(|name| std::env::var(name).ok())
                .filter(|value| value.len() >= 4),
        )
    }

    pub fn new(secrets: impl IntoIterator<Item = String>) -> Redactor {
        let mut secrets: Vec<String> = secrets.into_iter().collect();
        // Longest first, so a secret containing another is removed whole.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        Redactor { secrets }
    }

    pub fn clean(&self, text: &str) -> String {
        let mut out = text.to_string();
        for secret in &self.secrets {
            out = out.replace(secret.as_str(), "***");
        }
        for marker in [
            "sig=",
            "Signature=",
            "X-Amz-Signature=",
            "X-Amz-Credential=",
            "X-Amz-Security-Token=",
        ] {
            out = mask_after(&out, marker);
        }
        out
    }

    fn clean_reason(&self, reason: Reason) -> Reason {
        match reason {
            Reason::AccessDenied { store, detail } => Reason::AccessDenied {
                store,
                detail: self.clean(&detail),
            },
            Reason::Transfer { attempts, detail } => Reason::Transfer {
                attempts,
                detail: self.clean(&detail),
            },
            Reason::Invalid(detail) => Reason::Invalid(self.clean(&detail)),
            Reason::Unpack(detail) => Reason::Unpack(self.clean(&detail)),
            other => other,
        }
    }
}

/// Replaces the value after each `marker` (up to `&`, whitespace or a quote) with `***`.
fn mask_after(text: &str, marker: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(marker) {
        let value_start = at + marker.len();
        out.push_str(&rest[..value_start]);
        out.push_str("***");
        let value = &rest[value_start..];
        let end = value
            .find(|c: char| c == '&' || c == '"' || c == '\'' || c.is_whitespace())
            .unwrap_or(value.len());
        rest = &value[end..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(dir: &Path) -> Options {
        Options {
            model_dir: dir.to_path_buf(),
            concurrency: 2,
            attempts: 2,
            backoff: Duration::from_millis(10),
            max_bytes: 1024 * 1024,
            read_timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(5),
            progress_every: Duration::from_secs(60),
            credentials_dir: None,
            overlap_writes: false,
        }
    }

    fn sha(bytes: &[u8]) -> String {
        crate::digest::to_hex(&Sha256::digest(bytes))
    }

    fn model(name: &str, uri: String, sha256: Option<String>) -> ModelEntry {
        ModelEntry {
            name: name.into(),
            version: "1".into(),
            uri,
            sha256,
        }
    }

    fn tar_gz(files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(
            Vec::new(),
            flate2::Compression::fast(),
        ));
        for (path, bytes) in files {
            let mut header = tar::Header::new_gnu();
            header.set_size(bytes.len() as u64);
            header.set_mode(0o644);
            header.set_cksum();
            builder.append_data(&mut header, path, *bytes).unwrap();
        }
        builder.into_inner().unwrap().finish().unwrap()
    }

    #[tokio::test]
    async fn a_file_lands_under_name_version_and_is_skipped_next_time() {
        let src = tempfile::tempdir().unwrap();
        let out = tempfile::tempdir().unwrap();
        std::fs::write(src.path().join("fraud.pmml"), b"<PMML/>").unwrap();
        let models = [model(
            "fraud",
            format!("file://{}/fraud.pmml", src.path().display()),
            Some(sha(b"<PMML/>")),
        )];
        let first = fetch_models(&models, &options(out.path())).await.unwrap();
        assert_eq!(first, [Outcome::Downloaded { bytes: 7 }]);
        let landed = out.path().join("fraud/1/fraud.pmml");
        assert_eq!(std::fs::read(&landed).unwrap(), b"<PMML/>");
        let second = fetch_models(&models, &options(out.path())).await.unwrap();
        assert_eq!(second, [Outcome::Skipped]);
        // No scratch left behind.
        let names: Vec<_> = std::fs::read_dir(out.path().join("fraud"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names, ["1"]);
    }

    #[tokio::test]
    async fn both_sinks_write_and_hash_every_byte_and_report_a_disk_error() {
        let dir = tempfile::tempdir().unwrap();
        // A chunk over QUEUED_CHUNK_BYTES (split in pieces), one under the buffer, one between.
        let chunks: Vec<Vec<u8>> = vec![
            (0..QUEUED_CHUNK_BYTES * 2 + 5).map(|i| i as u8).collect(),
            b"tiny".to_vec(),
            vec![9u8; 100_000],
        ];
        let all = chunks.concat();
        for overlapped in [false, true] {
            let path = dir.path().join(format!("out-{overlapped}"));
            let mut sink = Sink::new(std::fs::File::create(&path).unwrap(), overlapped);
            for chunk in &chunks {
                assert!(sink.write(Bytes::from(chunk.clone())).await);
            }
            assert_eq!(sink.finish().await.unwrap(), sha(&all), "{overlapped}");
            assert_eq!(std::fs::read(&path).unwrap(), all, "{overlapped}");

            // A file opened read-only: the first write past the buffer fails, and so does finish.
            let read_only = std::fs::File::open(&path).unwrap();
            let mut sink = Sink::new(read_only, overlapped);
            let mut accepted = 0;
            for _ in 0..20 {
                if !sink.write(Bytes::from(vec![1u8; QUEUED_CHUNK_BYTES])).await {
                    break;
                }
                accepted += 1;
            }
            assert!(accepted < 20, "{overlapped}: every write was accepted");
            let err = sink.finish().await.unwrap_err();
            assert_eq!(err.raw_os_error(), Some(libc::EBADF), "{overlapped}: {err}");
        }
    }

    #[tokio::test]
    async fn a_corrupted_file_is_downloaded_again() {
        let src = tempfile::tempdir().unwrap();
        let out = tempfile::tempdir().unwrap();
        std::fs::write(src.path().join("m.bin"), b"good").unwrap();
        let models = [model(
            "m",
            format!("file://{}/m.bin", src.path().display()),
            Some(sha(b"good")),
        )];
        fetch_models(&models, &options(out.path())).await.unwrap();
        std::fs::write(out.path().join("m/1/m.bin"), b"evil").unwrap();
        let again = fetch_models(&models, &options(out.path())).await.unwrap();
        assert_eq!(again, [Outcome::Downloaded { bytes: 4 }]);
        assert_eq!(
            std::fs::read(out.path().join("m/1/m.bin")).unwrap(),
            b"good"
        );
    }

    #[tokio::test]
    async fn a_wrong_sha256_fails_naming_model_version_uri_and_leaves_nothing() {
        let src = tempfile::tempdir().unwrap();
        let out = tempfile::tempdir().unwrap();
        std::fs::write(src.path().join("m.bin"), b"data").unwrap();
        let uri = format!("file://{}/m.bin", src.path().display());
        let wrong = "0".repeat(64);
        let err = fetch_models(
            &[model("churn", uri.clone(), Some(wrong.clone()))],
            &options(out.path()),
        )
        .await
        .unwrap_err()
        .to_string();
        assert_eq!(
            err,
            format!(
                "1 of 1 model(s) could not be fetched:\n  - model `churn` version `1` from {uri}: \
                 sha256 mismatch: expected {wrong}, got {}",
                sha(b"data")
            )
        );
        assert!(!out.path().join("churn/1").exists());
        assert!(!out.path().join("churn/.1.part").exists());
    }

    #[tokio::test]
    async fn every_failure_is_reported_with_its_reason() {
        let out = tempfile::tempdir().unwrap();
        let src = tempfile::tempdir().unwrap();
        std::fs::write(src.path().join("big.bin"), vec![7u8; 2 * 1024 * 1024]).unwrap();
        let models = [
            model("gone", "file:///nonexistent/m.bin".into(), None),
            model("odd", "ftp://h/m.bin".into(), None),
            model(
                "big",
                format!("file://{}/big.bin", src.path().display()),
                None,
            ),
        ];
        let err = fetch_models(&models, &options(out.path()))
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("3 of 3 model(s) could not be fetched:"),
            "{err}"
        );
        assert!(
            err.contains("model `gone` version `1` from file:///nonexistent/m.bin: not found"),
            "{err}"
        );
        assert!(err.contains("model `odd` version `1` from ftp://h/m.bin: `ftp://h/m.bin`: scheme `ftp` cannot be fetched"), "{err}");
        assert!(err.contains("model `big` version `1`"), "{err}");
        assert!(
            err.contains("too large: over the limit of 1048576 bytes"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn an_archive_is_unpacked_into_the_version_directory_and_skipped_next_time() {
        let src = tempfile::tempdir().unwrap();
        let out = tempfile::tempdir().unwrap();
        let archive = tar_gz(&[("saved_model.pb", b"pb"), ("variables/v.index", b"ix")]);
        std::fs::write(src.path().join("tf.tar.gz"), &archive).unwrap();
        let models = [model(
            "tf",
            format!("file://{}/tf.tar.gz", src.path().display()),
            Some(sha(&archive)),
        )];
        fetch_models(&models, &options(out.path())).await.unwrap();
        assert_eq!(
            std::fs::read(out.path().join("tf/1/saved_model.pb")).unwrap(),
            b"pb"
        );
        assert_eq!(
            std::fs::read(out.path().join("tf/1/variables/v.index")).unwrap(),
            b"ix"
        );
        assert!(!out.path().join("tf/1/tf.tar.gz").exists());
        let again = fetch_models(&models, &options(out.path())).await.unwrap();
        assert_eq!(again, [Outcome::Skipped]);
    }

    #[tokio::test]
    async fn a_zip_is_unpacked_with_the_same_rules_and_skipped_next_time() {
        let src = tempfile::tempdir().unwrap();
        let out = tempfile::tempdir().unwrap();
        let archive =
            crate::archive::tests::zip(&[("model.onnx", b"onnx"), ("conf/labels.txt", b"a\nb\n")]);
        std::fs::write(src.path().join("m.zip"), &archive).unwrap();
        let models = [model(
            "m",
            format!("file://{}/m.zip", src.path().display()),
            Some(sha(&archive)),
        )];
        fetch_models(&models, &options(out.path())).await.unwrap();
        assert_eq!(
            std::fs::read(out.path().join("m/1/model.onnx")).unwrap(),
            b"onnx"
        );
        assert_eq!(
            std::fs::read(out.path().join("m/1/conf/labels.txt")).unwrap(),
            b"a\nb\n"
        );
        assert!(!out.path().join("m/1/m.zip").exists());
        assert_eq!(
            fetch_models(&models, &options(out.path())).await.unwrap(),
            [Outcome::Skipped]
        );

        let evil = crate::archive::tests::zip(&[("../escape.txt", b"x")]);
        std::fs::write(src.path().join("evil.zip"), &evil).unwrap();
        let err = fetch_models(
            &[model(
                "evil",
                format!("file://{}/evil.zip", src.path().display()),
                None,
            )],
            &options(out.path()),
        )
        .await
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("cannot unpack") && err.contains("unsafe or invalid path"),
            "{err}"
        );
        assert!(!out.path().join("evil/1").exists());
    }

    #[tokio::test]
    async fn an_archive_breaking_the_rules_is_refused_and_nothing_lands() {
        let src = tempfile::tempdir().unwrap();
        let out = tempfile::tempdir().unwrap();
        let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(
            Vec::new(),
            flate2::Compression::fast(),
        ));
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Symlink);
        header.set_size(0);
        header.set_cksum();
        builder
            .append_link(&mut header, "model.pb", "/etc/passwd")
            .unwrap();
        let archive = builder.into_inner().unwrap().finish().unwrap();
        std::fs::write(src.path().join("evil.tgz"), &archive).unwrap();
        let err = fetch_models(
            &[model(
                "evil",
                format!("file://{}/evil.tgz", src.path().display()),
                None,
            )],
            &options(out.path()),
        )
        .await
        .unwrap_err()
        .to_string();
        assert!(err.contains("cannot unpack"), "{err}");
        assert!(err.contains("links are not allowed"), "{err}");
        assert!(!out.path().join("evil/1").exists());
    }

    #[test]
    fn the_model_list_is_checked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("models.json");
        let check = |text: &str| {
            std::fs::write(&path, text).unwrap();
            read_model_list(&path).map_err(|e| e.to_string())
        };
        let ok = check(r#"[{"name":"fraud","format":"PMML","version":"1","uri":"s3://b-1/m"}]"#)
            .unwrap();
        assert_eq!(ok[0].sha256, None);
        assert!(check("[]").unwrap_err().contains("the list is empty"));
        assert!(
            check(r#"[{"name":"../x","version":"1","uri":"s3://b/m"}]"#)
                .unwrap_err()
                .contains("[0].name `../x`")
        );
        assert!(
            check(r#"[{"name":"a","version":".1","uri":"s3://b/m"}]"#)
                .unwrap_err()
                .contains("must not start with `.`")
        );
        assert!(
            check(r#"[{"name":"a","version":"1","uri":"s3://b/m","sha256":"xyz"}]"#)
                .unwrap_err()
                .contains("not 64 hex digits")
        );
        assert!(check(r#"[{"name":"a","version":"1","uri":"u://x"},{"name":"a","version":"1","uri":"u://y"}]"#).unwrap_err().contains("listed twice"));
        assert!(check("{").unwrap_err().contains("not a JSON list"));
    }

    #[test]
    fn secrets_and_signatures_are_redacted() {
        let redactor = Redactor::new(["s3cr3t-key".to_string()]);
        assert_eq!(
            redactor.clean("denied for s3cr3t-key at https://a.blob.core.windows.net/c/m?sv=1&sig=abc%2Fdef&se=2 and X-Amz-Signature=0123"),
            "denied for *** at https://a.blob.core.windows.net/c/m?sv=1&sig=***&se=2 and X-Amz-Signature=***"
        );
    }
}
