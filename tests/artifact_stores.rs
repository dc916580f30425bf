//! `fetch-models`, the real binary, against real object-store servers on this machine (S3: moto,
//! GCS: fake-gcs-server, Azure: Azurite, HTTPS: a TLS file server with a test CA), started by
//! `scripts/artifact-stores.sh up` (scripts/test.sh does it). Objects are uploaded with the
//! `object_store` crate itself, a real client of each store.

use object_store::{ObjectStore, ObjectStoreExt, PutPayload, path::Path as StorePath};
use std::path::Path;
use std::process::{Command, Output};
use std::sync::Arc;

/// The value of a variable the store script exports, or `None` (after saying so) when the test
/// must be skipped. Panics when `CI` is set: CI must never pass by skipping.
fn store_env(test: &str, name: &str) -> Option<String> {
    match std::env::var(name) {
        Ok(value) if !value.is_empty() => Some(value),
        _ if std::env::var("CI").is_ok_and(|v| !v.is_empty()) => panic!(
            "{test}: {name} is not set but CI is: run the stores (scripts/artifact-stores.sh up)"
        ),
        _ => {
            use std::io::Write as _;
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED {test}: {name} is not set (eval \"$(scripts/artifact-stores.sh up)\")"
            );
            None
        }
    }
}

/// reqwest (under object_store) is built without a bundled crypto provider, as in the binary.
fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

fn sha256(bytes: &[u8]) -> String {
    modelops_executor::digest::sha256_hex(bytes)
}

fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{prefix}-{}-{nanos}", std::process::id())
}

/// A model list with one entry.
fn model_list(dir: &Path, name: &str, uri: &str, sha256: Option<&str>) -> std::path::PathBuf {
    let mut entry = serde_json::json!({"name": name, "format": "PMML", "version": "1", "uri": uri});
    if let Some(sha) = sha256 {
        entry["sha256"] = sha.into();
    }
    let path = dir.join("models.json");
    std::fs::write(&path, serde_json::to_string(&[entry]).unwrap()).unwrap();
    path
}

/// Runs `fetch-models` with only the given store variables (plus PATH), as in the init container.
fn fetch_models(models: &Path, model_dir: &Path, env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_modelops-executor"));
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .args([
            "fetch-models",
            "--backoff",
            "100ms",
            "--attempts",
            "2",
            "--models",
        ])
        .arg(models)
        .arg("--model-dir")
        .arg(model_dir);
    for (name, value) in env {
        command.env(name, value);
    }
    command.output().unwrap()
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

struct S3 {
    endpoint: String,
    key: String,
    secret: String,
    bucket: String,
}

impl S3 {
    fn from_env(test: &str) -> Option<S3> {
        Some(S3 {
            endpoint: store_env(test, "AWS_ENDPOINT_URL")?,
            key: store_env(test, "AWS_ACCESS_KEY_ID")?,
            secret: store_env(test, "AWS_SECRET_ACCESS_KEY")?,
            bucket: store_env(test, "MODELOPS_TEST_BUCKET")?,
        })
    }

    fn env<'a>(&'a self, secret: &'a str) -> Vec<(&'a str, &'a str)> {
        vec![
            ("AWS_ENDPOINT_URL", &self.endpoint),
            ("AWS_ACCESS_KEY_ID", &self.key),
            ("AWS_SECRET_ACCESS_KEY", secret),
            ("AWS_REGION", "us-east-1"),
        ]
    }

    fn store(&self) -> Arc<dyn ObjectStore> {
        install_crypto_provider();
        Arc::new(
            object_store::aws::AmazonS3Builder::new()
                .with_endpoint(&self.endpoint)
                .with_allow_http(true)
                .with_access_key_id(&self.key)
                .with_secret_access_key(&self.secret)
                .with_region("us-east-1")
                .with_bucket_name(&self.bucket)
                .build()
                .unwrap(),
        )
    }
}

async fn upload(store: &Arc<dyn ObjectStore>, key: &str, bytes: Vec<u8>) {
    store
        .put(&StorePath::from(key), PutPayload::from(bytes))
        .await
        .unwrap_or_else(|e| panic!("upload {key}: {e}"));
}

#[tokio::test]
async fn s3_download_lands_verified_and_a_present_model_is_skipped() {
    let Some(s3) = S3::from_env("s3_download") else {
        return;
    };
    let key = format!("{}/fraud.pmml", unique("s3"));
    let body = b"<PMML version=\"4.4\"/>".to_vec();
    let digest = sha256(&body);
    upload(&s3.store(), &key, body.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let uri = format!("s3://{}/{key}", s3.bucket);
    let models = model_list(dir.path(), "fraud", &uri, Some(&digest));
    let out = dir.path().join("models");

    let first = fetch_models(&models, &out, &s3.env(&s3.secret));
    assert!(first.status.success(), "{}", text(&first));
    assert_eq!(std::fs::read(out.join("fraud/1/fraud.pmml")).unwrap(), body);

    let second = fetch_models(&models, &out, &s3.env(&s3.secret));
    assert!(second.status.success(), "{}", text(&second));
    assert!(text(&second).contains("skipped"), "{}", text(&second));
    assert!(!text(&second).contains("downloading"), "{}", text(&second));
}

#[tokio::test]
async fn s3_wrong_sha256_fails_naming_model_and_sha256() {
    let Some(s3) = S3::from_env("s3_wrong_sha256") else {
        return;
    };
    let key = format!("{}/churn.pmml", unique("s3"));
    upload(&s3.store(), &key, b"real content".to_vec()).await;
    let dir = tempfile::tempdir().unwrap();
    let uri = format!("s3://{}/{key}", s3.bucket);
    let models = model_list(dir.path(), "churn", &uri, Some(&sha256(b"other content")));
    let out = dir.path().join("models");
    let run = fetch_models(&models, &out, &s3.env(&s3.secret));
    assert_eq!(run.status.code(), Some(1), "{}", text(&run));
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        stderr.contains(&format!(
            "model `churn` version `1` from {uri}: sha256 mismatch: expected {}, got {}",
            sha256(b"other content"),
            sha256(b"real content")
        )),
        "{stderr}"
    );
    assert!(!out.join("churn/1").exists());
}

#[tokio::test]
async fn s3_wrong_credentials_are_access_denied_and_the_secret_is_never_shown() {
    let Some(s3) = S3::from_env("s3_wrong_credentials") else {
        return;
    };
    let key = format!("{}/m.pmml", unique("s3"));
    upload(&s3.store(), &key, b"x".to_vec()).await;
    let dir = tempfile::tempdir().unwrap();
    let uri = format!("s3://{}/{key}", s3.bucket);
    let models = model_list(dir.path(), "fraud", &uri, None);
    let wrong_secret = "WrongSecret+Never/Shown0123456789abcdefXYZ";
    let run = fetch_models(&models, &dir.path().join("m"), &s3.env(wrong_secret));
    let all = text(&run);
    assert_eq!(run.status.code(), Some(1), "{all}");
    assert!(
        all.contains(&format!(
            "model `fraud` version `1` from {uri}: access denied by S3"
        )),
        "{all}"
    );
    assert!(!all.contains(wrong_secret), "{all}");
    assert!(!all.contains(&s3.secret), "{all}");
}

#[tokio::test]
async fn s3_missing_object_is_not_found() {
    let Some(s3) = S3::from_env("s3_missing_object") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let uri = format!("s3://{}/{}/absent.pmml", s3.bucket, unique("s3"));
    let models = model_list(dir.path(), "fraud", &uri, None);
    let run = fetch_models(&models, &dir.path().join("m"), &s3.env(&s3.secret));
    assert_eq!(run.status.code(), Some(1), "{}", text(&run));
    assert!(
        text(&run).contains(&format!("from {uri}: not found")),
        "{}",
        text(&run)
    );
}

/// Runs `command` and returns its exit status and peak resident memory (`VmHWM`), sampled from
/// /proc until it exits. Not `wait4`'s `ru_maxrss`: a child spawned with vfork semantics shares
/// this (large) test process's memory until exec, and Linux folds that into the child's maxrss.
fn run_measuring_peak_rss(mut command: Command) -> (std::process::ExitStatus, u64) {
    let mut child = command.spawn().unwrap();
    let status_file = format!("/proc/{}/status", child.id());
    let mut peak_kib = 0u64;
    loop {
        if let Ok(status) = std::fs::read_to_string(&status_file)
            && let Some(line) = status.lines().find(|l| l.starts_with("VmHWM:"))
        {
            let kib: u64 = line
                .split_whitespace()
                .nth(1)
                .and_then(|n| n.parse().ok())
                .unwrap_or(0);
            peak_kib = peak_kib.max(kib);
        }
        if let Some(status) = child.try_wait().unwrap() {
            return (status, peak_kib * 1024);
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

#[tokio::test]
async fn a_300_mb_model_streams_to_disk_with_peak_rss_under_64_mib() {
    let Some(s3) = S3::from_env("s3_300mb") else {
        return;
    };
    const SIZE: usize = 300 * 1024 * 1024;
    // Not compressible and not constant: each 8-byte word differs.
    let body: Vec<u8> = (0..SIZE / 8)
        .flat_map(|i| (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15).to_le_bytes())
        .collect();
    let digest = sha256(&body);
    let key = format!("{}/big.bin", unique("s3"));
    upload(&s3.store(), &key, body).await;
    let dir = tempfile::tempdir().unwrap();
    let models = model_list(
        dir.path(),
        "big",
        &format!("s3://{}/{key}", s3.bucket),
        Some(&digest),
    );
    let out = dir.path().join("models");
    let mut command = Command::new(env!("CARGO_BIN_EXE_modelops-executor"));
    command
        .env_clear()
        .args(["fetch-models", "--models"])
        .arg(&models)
        .arg("--model-dir")
        .arg(&out)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    for (name, value) in s3.env(&s3.secret) {
        command.env(name, value);
    }
    let (status, peak) = run_measuring_peak_rss(command);
    assert!(status.success(), "fetch-models failed: {status}");
    let landed = out.join("big/1/big.bin");
    assert_eq!(std::fs::metadata(&landed).unwrap().len(), SIZE as u64);
    eprintln!("fetch-models peak RSS for 300 MiB: {} KiB", peak / 1024);
    assert!(peak < 64 * 1024 * 1024, "peak RSS {peak} bytes");
}

#[tokio::test]
async fn gcs_download_with_credentials_file() {
    let (Some(credentials), Some(bucket)) = (
        store_env("gcs_download", "MODELOPS_TEST_GCS_CREDENTIALS"),
        store_env("gcs_download", "MODELOPS_TEST_GCS_BUCKET"),
    ) else {
        return;
    };
    install_crypto_provider();
    let key = format!("{}/model.tar.gz", unique("gcs"));
    let archive = {
        let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(
            Vec::new(),
            flate2::Compression::fast(),
        ));
        let mut header = tar::Header::new_gnu();
        header.set_size(5);
        header.set_mode(0o644);
        header.set_cksum();
        builder
            .append_data(&mut header, "saved_model.pb", &b"proto"[..])
            .unwrap();
        builder.into_inner().unwrap().finish().unwrap()
    };
    let digest = sha256(&archive);
    // fake-gcs-server does not take object_store's XML-API upload; its JSON upload API does.
    let base =
        serde_json::from_str::<serde_json::Value>(&std::fs::read_to_string(&credentials).unwrap())
            .unwrap()["gcs_base_url"]
            .as_str()
            .unwrap()
            .to_string();
    let uploaded = reqwest::Client::new()
        // `key` is letters, digits, `-` and `/`: nothing to escape in a query.
        .post(format!(
            "{base}/upload/storage/v1/b/{bucket}/o?uploadType=media&name={key}"
        ))
        .body(archive)
        .send()
        .await
        .unwrap();
    assert!(uploaded.status().is_success(), "{uploaded:?}");
    let dir = tempfile::tempdir().unwrap();
    let models = model_list(
        dir.path(),
        "tf",
        &format!("gs://{bucket}/{key}"),
        Some(&digest),
    );
    let out = dir.path().join("models");
    let run = fetch_models(&models, &out, &[("GOOGLE_SERVICE_ACCOUNT", &credentials)]);
    assert!(run.status.success(), "{}", text(&run));
    assert_eq!(
        std::fs::read(out.join("tf/1/saved_model.pb")).unwrap(),
        b"proto"
    );
}

struct Azure {
    endpoint: String,
    account: String,
    key: String,
    container: String,
}

impl Azure {
    fn from_env(test: &str) -> Option<Azure> {
        Some(Azure {
            endpoint: store_env(test, "MODELOPS_TEST_AZURE_ENDPOINT")?,
            account: store_env(test, "MODELOPS_TEST_AZURE_ACCOUNT")?,
            key: store_env(test, "MODELOPS_TEST_AZURE_KEY")?,
            container: store_env(test, "MODELOPS_TEST_AZURE_CONTAINER")?,
        })
    }

    fn env<'a>(&'a self, key: &'a str) -> Vec<(&'a str, &'a str)> {
        vec![
            ("AZURE_STORAGE_ACCOUNT_NAME", &self.account),
            ("AZURE_STORAGE_ACCOUNT_KEY", key),
            ("AZURE_STORAGE_ENDPOINT", &self.endpoint),
        ]
    }
}

#[tokio::test]
async fn azure_download_with_account_key_and_a_wrong_key_is_access_denied() {
    let Some(azure) = Azure::from_env("azure_download") else {
        return;
    };
    install_crypto_provider();
    let store: Arc<dyn ObjectStore> = Arc::new(
        object_store::azure::MicrosoftAzureBuilder::new()
            .with_account(&azure.account)
            .with_access_key(&azure.key)
            .with_endpoint(azure.endpoint.clone())
            .with_allow_http(true)
            .with_container_name(&azure.container)
            .build()
            .unwrap(),
    );
    let key = format!("{}/model.onnx", unique("az"));
    upload(&store, &key, b"onnx bytes".to_vec()).await;
    let dir = tempfile::tempdir().unwrap();
    let uri = format!("az://{}/{key}", azure.container);
    let models = model_list(dir.path(), "onnx", &uri, Some(&sha256(b"onnx bytes")));
    let out = dir.path().join("models");
    let run = fetch_models(&models, &out, &azure.env(&azure.key));
    assert!(run.status.success(), "{}", text(&run));
    assert_eq!(
        std::fs::read(out.join("onnx/1/model.onnx")).unwrap(),
        b"onnx bytes"
    );

    // A well-formed key that is not the account's.
    let wrong_key = "V3JvbmdLZXlXcm9uZ0tleVdyb25nS2V5V3JvbmdLZXlXcm9uZ0tleQ==";
    let run = fetch_models(&models, &dir.path().join("other"), &azure.env(wrong_key));
    let all = text(&run);
    assert_eq!(run.status.code(), Some(1), "{all}");
    assert!(
        all.contains(&format!(
            "model `onnx` version `1` from {uri}: access denied by Azure Blob Storage"
        )),
        "{all}"
    );
    assert!(!all.contains(wrong_key), "{all}");
}

#[tokio::test]
async fn https_with_a_test_ca_is_trusted_only_with_that_ca() {
    let (Some(base), Some(served), Some(ca)) = (
        store_env("https_test_ca", "MODELOPS_TEST_HTTPS_URL"),
        store_env("https_test_ca", "MODELOPS_TEST_HTTPS_DIR"),
        store_env("https_test_ca", "MODELOPS_TEST_CA_FILE"),
    ) else {
        return;
    };
    let name = unique("https");
    std::fs::write(Path::new(&served).join(format!("{name}.pmml")), b"<PMML/>").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let uri = format!("{base}/{name}.pmml");
    let models = model_list(dir.path(), "web", &uri, Some(&sha256(b"<PMML/>")));

    let trusted = fetch_models(&models, &dir.path().join("a"), &[("SSL_CERT_FILE", &ca)]);
    assert!(trusted.status.success(), "{}", text(&trusted));
    assert_eq!(
        std::fs::read(dir.path().join(format!("a/web/1/{name}.pmml"))).unwrap(),
        b"<PMML/>"
    );

    // Without the CA the server's certificate is not trusted: the transfer fails.
    let untrusted = fetch_models(&models, &dir.path().join("b"), &[]);
    assert_eq!(untrusted.status.code(), Some(1), "{}", text(&untrusted));
    assert!(
        text(&untrusted).contains("model `web` version `1`"),
        "{}",
        text(&untrusted)
    );
}

// --- Before apply: `render` (and so `install`) refuses what fetch-models could not fetch. ---

/// `render` of examples/batch-fraud with `edit` applied to its models.yaml and `extra` flags.
fn render_batch_fraud(edit: impl Fn(String) -> String, extra: &[&str]) -> Output {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let ir = tempfile::tempdir().unwrap();
    for file in ["flows.yaml", "models.yaml", "pipeline.yaml"] {
        let text = std::fs::read_to_string(root.join("examples/batch-fraud").join(file)).unwrap();
        let text = if file == "models.yaml" {
            edit(text)
        } else {
            text
        };
        std::fs::write(ir.path().join(file), text).unwrap();
    }
    Command::new(env!("CARGO_BIN_EXE_modelops-executor"))
        .current_dir(root)
        .args(["render", "--channels", "examples/channels", "--ir"])
        .arg(ir.path())
        .args(extra)
        .output()
        .unwrap()
}

#[test]
fn render_refuses_a_scheme_fetch_models_cannot_fetch_naming_model_and_field() {
    let run = render_batch_fraud(
        |models| models.replace("s3://models/fraud-gbm/", "ftp://models/fraud-gbm/"),
        &[],
    );
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(2), "{stderr}");
    assert!(run.stdout.is_empty(), "rendered despite the error");
    assert!(
        stderr.contains(
            "merged values (Model/fraud-gbm): scoringServices[0].models[0].uri: \
             `ftp://models/fraud-gbm/3/model.pmml`: scheme `ftp` cannot be fetched"
        ),
        "{stderr}"
    );
}

#[test]
fn render_refuses_object_store_models_when_no_credentials_secret_is_given() {
    let unchanged = render_batch_fraud(|models| models, &[]);
    assert!(
        unchanged.status.success(),
        "{}",
        String::from_utf8_lossy(&unchanged.stderr)
    );
    let run = render_batch_fraud(
        |models| models,
        &["--set", "global.artifacts.credentialsSecret="],
    );
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("(Model/fraud-gbm): scoringServices[0].models[0].uri: `s3://models/fraud-gbm/3/model.pmml` is on S3, which needs credentials"),
        "{stderr}"
    );
    assert!(
        stderr.contains("is on Google Cloud Storage, which needs credentials"),
        "{stderr}"
    );
}
