//! What the integration test files share: the repository root, the kubeconfig gate, the kube
//! client, a test's place on the cluster and the binary pointed at it ([`Stage`]), and the
//! cluster fixtures (a Windows node, the data channel registry).
// Each test file compiles this module and uses a part of it.
#![allow(dead_code)]

use anyhow::Context as _;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Node};
use kube::Client;
use kube::api::{Api, Patch, PatchParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_modelops-executor");

/// The repository root: where the binary runs and the examples and charts are.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A client for the cluster of this kubeconfig file.
pub async fn client_from(path: &str) -> anyhow::Result<Client> {
    static CRYPTO: std::sync::Once = std::sync::Once::new();
    CRYPTO.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
    let kubeconfig =
        Kubeconfig::read_from(path).with_context(|| format!("reading kubeconfig {path}"))?;
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .with_context(|| format!("loading kubeconfig {path}"))?;
    Client::try_from(config).context("building the kube client")
}

/// The data channel registry of examples/channels/registry.yaml in `namespace` (created if it
/// is missing), applied by `manager`: `datachannels` is where install reads it by default.
pub async fn register_channels(
    client: &Client,
    namespace: &str,
    manager: &str,
) -> anyhow::Result<()> {
    let apply = PatchParams::apply(manager).force();
    let body = serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}});
    Api::<Namespace>::all(client.clone())
        .patch(namespace, &apply, &Patch::Apply(&body))
        .await
        .with_context(|| format!("applying namespace {namespace}"))?;
    let text = std::fs::read_to_string(root().join("examples/channels/registry.yaml"))?;
    let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), namespace);
    for document in text.split("\n---\n") {
        let mut value: serde_json::Value = serde_norway::from_str(document)?;
        value["metadata"]["namespace"] = serde_json::json!(namespace);
        let name = value["metadata"]["name"]
            .as_str()
            .context("a channel without a name")?
            .to_string();
        config_maps
            .patch(&name, &apply, &Patch::Apply(&value))
            .await
            .with_context(|| format!("applying channel {name}"))?;
    }
    Ok(())
}

/// The kubeconfig of the local control plane, or `None` (after saying so) when the test must
/// be skipped. Panics when `CI` is set: CI must never pass by skipping.
pub fn kubeconfig_path(test: &str) -> Option<String> {
    match std::env::var("MODELOPS_TEST_KUBECONFIG") {
        Ok(path) if !path.trim().is_empty() => Some(path),
        _ if std::env::var("CI").is_ok_and(|v| !v.is_empty()) => panic!(
            "{test}: MODELOPS_TEST_KUBECONFIG is not set but CI is: the integration tests must run \
             against the local control plane (scripts/test.sh)"
        ),
        _ => {
            // Straight to stderr, past libtest's capture, so a skip is visible in `cargo test`.
            use std::io::Write as _;
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED {test}: MODELOPS_TEST_KUBECONFIG is not set (scripts/test.sh sets it)"
            );
            None
        }
    }
}

/// STATISTICA scoring services run on Windows nodes: the simulated one of
/// testcluster/windows-node.yaml (what scripts/demo.sh applies too).
pub async fn ensure_windows_node(client: &Client, manager: &str) -> Result<(), kube::Error> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/testcluster/windows-node.yaml");
    let text = std::fs::read_to_string(path).expect("testcluster/windows-node.yaml");
    let node: serde_json::Value = serde_norway::from_str(&text).expect("a Node manifest");
    let name = node["metadata"]["name"]
        .as_str()
        .expect("a name")
        .to_string();
    let nodes: Api<Node> = Api::all(client.clone());
    nodes
        .patch(
            &name,
            &PatchParams::apply(manager).force(),
            &Patch::Apply(&node),
        )
        .await?;
    Ok(())
}

/// The binary with `args`, run from the repository root against the cluster of `kubeconfig`,
/// with nothing of the caller's environment that would change what it does (`RUST_LOG`, a job
/// id).
pub fn binary(kubeconfig: &str, args: &[&str]) -> Command {
    let mut command = Command::new(BIN);
    command
        .args(args)
        .current_dir(root())
        .env("KUBECONFIG", kubeconfig)
        .env_remove("RUST_LOG")
        .env_remove("MODELOPS_JOB_ID");
    command
}

/// One test's place on the test cluster: a client, the kubeconfig the binary gets, and a
/// namespace and job id of its own, `<prefix>-<test>-<suffix>` and `<test>-<suffix>` (the
/// test's name cut to `name_length` characters, so names stay within Kubernetes' limits).
#[derive(Clone)]
pub struct Stage {
    pub client: Client,
    pub kubeconfig: String,
    pub namespace: String,
    pub job_id: String,
    /// Whether the binary gets the stand-in object-store credentials
    /// ([`stand_in_artifact_credentials`]): the kwok tests' models are never downloaded.
    pub stand_in_credentials: bool,
}

impl Stage {
    /// `None` (after saying so) when there is no test cluster: see [`kubeconfig_path`].
    pub async fn new(test: &str, prefix: &str, name_length: usize) -> Option<Stage> {
        let kubeconfig = kubeconfig_path(test)?;
        let client = client_from(&kubeconfig).await.unwrap();
        let suffix = unique_suffix();
        let short: String = test.replace('_', "-").chars().take(name_length).collect();
        let short = short.trim_end_matches('-');
        Some(Stage {
            client,
            kubeconfig,
            namespace: format!("{prefix}-{short}-{suffix}"),
            job_id: format!("{short}-{suffix}"),
            stand_in_credentials: false,
        })
    }

    /// The binary with `args`, pointed at the cluster ([`binary`]).
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = binary(&self.kubeconfig, args);
        if self.stand_in_credentials {
            stand_in_artifact_credentials(&mut command);
        }
        command
    }

    /// Runs the binary; prints the command, its exit status, how long it took and its stderr.
    pub fn run(&self, args: &[&str]) -> Output {
        self.run_timed(args).0
    }

    /// [`Stage::run`], and how long it took.
    pub fn run_timed(&self, args: &[&str]) -> (Output, Duration) {
        let started = Instant::now();
        let output = self.command(args).output().expect("the binary runs");
        let took = started.elapsed();
        eprintln!(
            "$ modelops-executor {} ({:.1}s, {})\n{}",
            args.join(" "),
            took.as_secs_f64(),
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        (output, took)
    }

    /// `command` of this test's job (`--job-id`, `--namespace`) with `extra` arguments.
    pub fn run_job(&self, command: &str, extra: &[&str]) -> (Output, Duration) {
        let job = [
            command,
            "--job-id",
            &self.job_id,
            "--namespace",
            &self.namespace,
        ];
        self.run_timed(&[&job[..], extra].concat())
    }
}

/// A test file's `Scene`, which keeps its [`Stage`] in the field `stage`, reads as that Stage
/// too: `scene.namespace`, `scene.run(…)`.
#[allow(unused_macros)]
macro_rules! scene_on_stage {
    ($scene:ty) => {
        impl std::ops::Deref for $scene {
            type Target = common::Stage;
            fn deref(&self) -> &common::Stage {
                &self.stage
            }
        }
    };
}

/// A short suffix that keeps names of concurrent tests and runs apart: a namespace or job id.
pub fn unique_suffix() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    format!("{:x}", nanos & 0xff_ffff)
}

/// `install` of the bundled batch example with its globals file, as the fault tests run it; the
/// caller adds the job, namespace and test-specific flags.
pub const INSTALL_BATCH_EXAMPLE: [&str; 7] = [
    "install",
    "--ir",
    "examples/batch-fraud",
    "--chart",
    "charts/modelops",
    "--globals",
    "examples/globals.yaml",
];

/// The final error of a `--log-format json` run (its last stderr line), as the text chain
/// `error: …` / `  caused by: …` that a text run prints.
pub fn final_error_text(stderr: &str) -> String {
    let last: serde_json::Value = serde_json::from_str(stderr.lines().last().unwrap_or_default())
        .expect("the final error is a JSON line");
    let mut error = format!("error: {}", last["message"].as_str().unwrap());
    for cause in last["causes"].as_array().unwrap() {
        error.push_str(&format!("\n  caused by: {}", cause.as_str().unwrap()));
    }
    error
}

/// The secret of [`stand_in_artifact_credentials`]: tests check it never shows up anywhere.
pub const STAND_IN_SECRET_ACCESS_KEY: &str = "stand-in-secret-3f9a7c";

/// What a test's `install` gets to authenticate its model downloads with: the example IRs name
/// `s3://` and `gs://` models, so install needs credentials (it checks before applying). Pods on
/// kwok's simulated nodes never download anything, so these stand-in values never reach a store;
/// install makes the job-owned Secret from them, as the Tekton Task does from the platform's
/// (`--artifact-credentials from-env`, docs/artifact-stores.md).
pub fn stand_in_artifact_credentials(command: &mut std::process::Command) {
    command
        .env("MODELOPS_ARTIFACT_CREDENTIALS", "from-env")
        .env("AWS_ACCESS_KEY_ID", "stand-in-access-key")
        .env("AWS_SECRET_ACCESS_KEY", STAND_IN_SECRET_ACCESS_KEY)
        .env(
            "GOOGLE_SERVICE_ACCOUNT_KEY",
            r#"{"type":"service_account","client_email":"stand-in@example.invalid"}"#,
        );
}

/// The artifact credentials Secret a platform provides in a job's namespace (reference mode, the
/// default): `modelops-artifact-credentials` with the keys the examples' S3 and GCS models need.
/// Stand-in values, as in [`stand_in_artifact_credentials`]: kwok's pods download nothing.
pub async fn provide_artifact_credentials(
    client: &Client,
    namespace: &str,
    manager: &str,
) -> anyhow::Result<()> {
    use k8s_openapi::api::core::v1::Secret;
    let secret = serde_json::json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "modelops-artifact-credentials", "namespace": namespace},
        "stringData": {
            "AWS_ACCESS_KEY_ID": "stand-in-access-key",
            "AWS_SECRET_ACCESS_KEY": STAND_IN_SECRET_ACCESS_KEY,
            "google-application-credentials.json": r#"{"type":"service_account","client_email":"stand-in@example.invalid"}"#,
        },
    });
    Api::<Secret>::namespaced(client.clone(), namespace)
        .patch(
            "modelops-artifact-credentials",
            &PatchParams::apply(manager).force(),
            &Patch::Apply(&secret),
        )
        .await
        .context("creating the artifact credentials Secret")?;
    Ok(())
}
