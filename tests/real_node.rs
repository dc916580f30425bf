//! What pods really do, on the real node `real-0` of the local cluster (issue 14,
//! docs/testcluster.md "The real node"): the kubelet, containerd and runc run the containers, so
//! image pulls, crash loops, init containers, the kernel's OOM killer, logs, DNS and Services are
//! the real thing. The executor (install, wait), not a kube client, shows each behaviour; the
//! client only sets the scene.
//!
//! The fixture images are assembled here from Debian's busybox-static with the cluster's own image
//! builder (testcluster/cmd/imagebuild) and loaded into the node's containerd, never pulled. Their
//! pods are steered to real-0 with a values file (toleration of its taint and a node affinity);
//! everything else of a job stays on the kwok nodes.
//!
//! Gated on `MODELOPS_TEST_KUBECONFIG` like the other cluster tests, and on the cluster having a
//! real node: `#[ignore]`d unless scripts/test.sh runs with MODELOPS_TESTCLUSTER_REAL_NODE=1
//! (then `--ignored`); run by hand on a cluster without one they skip visibly, and fail under `CI`
//! unless that variable says 0.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Node, Pod, Secret};
use kube::api::{Api, DeleteParams, ListParams, LogParams, PostParams};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[macro_use]
mod common;
use common::{Stage, root};

const EXECUTOR_IMAGE: &str = "ghcr.io/modelops/modelops-executor:0.1.0";
const REAL_NODE_LABEL: (&str, &str) = ("modelops.io/node", "real");
const REAL_NODE_NAME: &str = "real-0";
/// Scoring-service charts the fixtures point at real-0 (every Linux runtime).
const SERVICE_CHARTS: [&str; 4] = [
    "scoring-service-python",
    "scoring-service-r",
    "scoring-service-pmml",
    "scoring-service-tensorflow",
];

/// The test cluster's state directory (the kubeconfig's directory) when it has a real node.
fn real_node_state(test: &str, kubeconfig: &str) -> Option<PathBuf> {
    let state = Path::new(kubeconfig).parent()?.to_path_buf();
    if state.join("real-node").is_file() && state.join("nodebindir").is_file() {
        return Some(state);
    }
    let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty());
    let wanted = std::env::var("MODELOPS_TESTCLUSTER_REAL_NODE");
    if wanted.as_deref() == Ok("1") || (ci && wanted.as_deref() != Ok("0")) {
        panic!(
            "{test}: the cluster of {kubeconfig} has no real node: start it with \
             MODELOPS_TESTCLUSTER_REAL_NODE=1 scripts/testcluster.sh up"
        );
    }
    use std::io::Write as _;
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED {test}: the cluster of {kubeconfig} has no real node (MODELOPS_TESTCLUSTER_REAL_NODE=0)"
    );
    None
}

/// A node under pressure is tainted and schedules nothing: say so at once, rather than let every
/// test time out on "untolerated taint" (a cold CI run fills the disk with ~25 GB of caches).
async fn refuse_a_node_under_pressure(client: &kube::Client) {
    let node = Api::<Node>::all(client.clone())
        .get(REAL_NODE_NAME)
        .await
        .unwrap_or_else(|e| panic!("reading node {REAL_NODE_NAME}: {e}"));
    let conditions = node.status.and_then(|s| s.conditions).unwrap_or_default();
    for condition in conditions {
        if condition.type_.ends_with("Pressure") && condition.status == "True" {
            panic!(
                "node {REAL_NODE_NAME} has {}: {} (the kubelet evicts and schedules nothing; for \
                 DiskPressure, free disk space on this machine)",
                condition.type_,
                condition.message.unwrap_or_default()
            );
        }
    }
}

/// A fixture image: busybox (every applet linked), a user-less entrypoint, extra files.
struct Fixture {
    reference: &'static str,
    entrypoint: &'static [&'static str],
    files: Vec<Value>,
}

/// One test's world on the real node.
struct Scene {
    stage: Stage,
    /// The real node's state directory (its images, binaries).
    state: PathBuf,
    dir: tempfile::TempDir,
    /// Base URL of this test's model store (`serve_models`).
    models: String,
    /// Set by `cleanup`; otherwise (a test that failed early) `Drop` removes the job.
    cleaned: bool,
}

scene_on_stage!(Scene);

impl Scene {
    async fn new(test: &str) -> Option<Scene> {
        let stage = Stage::new(test, "rn", 24).await?;
        let state = real_node_state(test, &stage.kubeconfig)?;
        refuse_a_node_under_pressure(&stage.client).await;
        let scene = Scene {
            stage,
            state,
            dir: tempfile::tempdir().unwrap(),
            models: serve_models(),
            cleaned: false,
        };
        scene.register_channels();
        Some(scene)
    }

    /// A copy of the IR directory `source` whose models come from this test's model store
    /// (`s3://models/…`, `gs://ml-artifacts/…` become `<store>/models/…`, `<store>/ml-artifacts/…`),
    /// then `edit`ed.
    fn ir(&self, source: &str, edit: impl Fn(String) -> String) -> String {
        let source = root().join(source);
        let ir = self.dir.path().join(format!(
            "ir-{}",
            source.file_name().unwrap().to_string_lossy()
        ));
        std::fs::create_dir_all(&ir).unwrap();
        for entry in std::fs::read_dir(&source).unwrap() {
            let path = entry.unwrap().path();
            let text = std::fs::read_to_string(&path)
                .unwrap()
                .replace("s3://models/", &format!("{}/models/", self.models))
                .replace(
                    "gs://ml-artifacts/",
                    &format!("{}/ml-artifacts/", self.models),
                );
            std::fs::write(ir.join(path.file_name().unwrap()), edit(text)).unwrap();
        }
        ir.display().to_string()
    }

    fn node_bin(&self, name: &str) -> PathBuf {
        let dir = std::fs::read_to_string(self.state.join("nodebindir")).unwrap();
        Path::new(dir.trim()).join(name)
    }

    /// Builds the fixture image with the cluster's image builder and loads it into real-0's
    /// containerd (both idempotent).
    fn load(&self, fixture: &Fixture) {
        let mut files = vec![
            json!({"path": "/bin/busybox", "from": "/bin/busybox", "mode": "0755", "applets": true}),
            json!({"path": "/tmp", "dir": true, "mode": "1777"}),
        ];
        files.extend(fixture.files.iter().cloned());
        let spec = json!({
            "reference": fixture.reference,
            "entrypoint": fixture.entrypoint,
            "cmd": [],
            "user": "",
            "workingDir": "/",
            "env": ["PATH=/usr/bin:/bin"],
            "labels": {},
            "files": files,
        });
        let name = fixture.reference.replace(['/', ':'], "-");
        let spec_path = self.dir.path().join(format!("{name}.json"));
        std::fs::write(&spec_path, spec.to_string()).unwrap();
        self.build_and_import(&spec_path, &[]);
    }

    /// Builds the image of an imagebuild spec (`-var NAME=VALUE` for each of `vars`) and loads
    /// it into real-0's containerd (both idempotent).
    fn build_and_import(&self, spec: &Path, vars: &[(&str, &Path)]) {
        let mut imagebuild = Command::new(self.node_bin("imagebuild"));
        imagebuild.arg("-spec").arg(spec);
        for (name, value) in vars {
            imagebuild
                .arg("-var")
                .arg(format!("{name}={}", value.display()));
        }
        let out_dir = self.state.join("node/fixture-images");
        let built = run_checked(imagebuild.arg("-out-dir").arg(&out_dir));
        let tarball = String::from_utf8(built.stdout).unwrap().trim().to_string();
        run_checked(
            Command::new(self.node_bin("ctr"))
                .arg("--address")
                .arg(self.state.join("node/containerd.sock"))
                .args([
                    "-n",
                    "k8s.io",
                    "images",
                    "import",
                    "--platform",
                    "linux/amd64",
                ])
                .arg(&tarball),
        );
    }

    fn register_channels(&self) {
        let output = Command::new(root().join("scripts/testcluster.sh"))
            .args([
                "apply",
                "examples/channels/00-namespace.yaml",
                "examples/channels/registry.yaml",
            ])
            .current_dir(root())
            .env("MODELOPS_TESTCLUSTER_DIR", &self.state)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// A values file that puts the scoring services (and, with `flow_image`, the flows) on
    /// real-0 with the given images; `global` is merged in.
    fn values(&self, service_image: &str, flow_image: Option<&str>, global: Value) -> String {
        let image = |reference: &str| {
            let (repository, tag) = reference.rsplit_once(':').unwrap();
            json!({"registry": "docker.io", "repository": repository, "tag": tag, "pullPolicy": "IfNotPresent"})
        };
        let placement = real_node_placement();
        let small = json!({"requests": {"cpu": "10m", "memory": "16Mi"}, "limits": {"cpu": "500m", "memory": "64Mi"}});
        // The init containers run the executor image that `up` built from the static binary and
        // loaded; the models come over http from the test's store, so no credentials Secret.
        let executor = EXECUTOR_IMAGE.split_once('/').unwrap();
        let mut executor = image(executor.1);
        executor["registry"] = json!(EXECUTOR_IMAGE.split_once('/').unwrap().0);
        let mut values = json!({"global": {
            "images": {"executor": executor},
            "artifacts": {"credentialsSecret": ""},
            "resources": {"scoringService": small, "scoringFlow": small},
        }});
        for chart in SERVICE_CHARTS {
            let mut chart_values = placement.clone();
            chart_values["image"] = image(service_image);
            // The fixture's own entrypoint, not the default model server's command.
            chart_values["server"] = json!({"command": [], "args": [], "modelSettings": ""});
            values[chart] = chart_values;
        }
        if let Some(flow) = flow_image {
            let mut chart_values = placement.clone();
            chart_values["image"] = image(flow);
            values["scoring-flow"] = chart_values;
        }
        merge(&mut values["global"], global);
        let path = self.dir.path().join("values.yaml");
        // JSON is YAML.
        std::fs::write(&path, values.to_string()).unwrap();
        path.display().to_string()
    }

    fn install(&self, ir: &str, values: &str, extra: &[&str]) -> (Output, Duration) {
        self.run_timed(&self.install_args(ir, values, extra))
    }

    /// `install` of `ir` into this test's namespace and job, with the values file `values`.
    fn install_args<'a>(&'a self, ir: &'a str, values: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
        let mut args = vec![
            "install",
            "--ir",
            ir,
            "--chart",
            "charts/modelops",
            "--globals",
            "examples/globals.yaml",
            "--namespace",
            &self.namespace,
            "--create-namespace",
            "--job-id",
            &self.job_id,
            "-f",
            values,
        ];
        args.extend_from_slice(extra);
        args
    }

    /// `finally --force` of this test's job.
    fn finally_args(&self) -> [&str; 6] {
        [
            "finally",
            "--job-id",
            &self.job_id,
            "--namespace",
            &self.namespace,
            "--force",
        ]
    }

    async fn cleanup(mut self) {
        self.cleaned = true;
        let finally = self.run(&self.finally_args());
        let namespaces: Api<Namespace> = Api::all(self.client.clone());
        let _ = namespaces
            .delete(&self.namespace, &DeleteParams::background())
            .await;
        assert!(finally.status.success(), "cleanup finally failed");
    }
}

/// A test that fails before `cleanup` leaves its pods eating real-0's little CPU: remove the
/// job and its namespace anyway (on a runtime of its own: the test's may be unwinding).
impl Drop for Scene {
    fn drop(&mut self) {
        if self.cleaned {
            return;
        }
        let _ = self.command(&self.finally_args()).output();
        let (kubeconfig, namespace) = (self.kubeconfig.clone(), self.namespace.clone());
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                let client = common::client_from(&kubeconfig).await.unwrap();
                let _ = Api::<Namespace>::all(client)
                    .delete(&namespace, &DeleteParams::background())
                    .await;
            });
        })
        .join();
        eprintln!(
            "removed job {} and namespace {} of a failed test",
            self.job_id, self.namespace
        );
    }
}

/// Tolerates real-0's taint and requires it (a chart's `tolerations` and `affinity` values).
fn real_node_placement() -> Value {
    json!({
        "tolerations": [{"key": REAL_NODE_LABEL.0, "operator": "Equal", "value": REAL_NODE_LABEL.1, "effect": "NoSchedule"}],
        "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
            {"matchExpressions": [{"key": REAL_NODE_LABEL.0, "operator": "In", "values": [REAL_NODE_LABEL.1]}]}]}}},
    })
}

fn merge(into: &mut Value, from: Value) {
    match (into, from) {
        (Value::Object(into), Value::Object(from)) => {
            for (key, value) in from {
                merge(into.entry(key).or_insert(Value::Null), value);
            }
        }
        (into, from) => *into = from,
    }
}

fn run_checked(command: &mut Command) -> Output {
    let output = command.output().expect("the command runs");
    assert!(
        output.status.success(),
        "{command:?}: {}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The host's address on real-0's network (HOST_IP of scripts/testcluster-real-node.sh): the one
/// address of this machine that pods reach.
const HOST_IP: &str = "10.250.0.1";

/// The artifacts the example IRs name, by path, so the scoring services' `fetch-models` init
/// containers (the executor image) download and verify real bytes: the examples pin sha256 of
/// short words ("test", "test2", "password"); the TensorFlow model is a real `.tar.gz`.
fn model_files() -> HashMap<String, Vec<u8>> {
    let mut saved_model = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::fast(),
    ));
    let mut header = tar::Header::new_gnu();
    header.set_size(9);
    header.set_mode(0o644);
    header.set_cksum();
    saved_model
        .append_data(&mut header, "saved_model.pb", &b"a graph\n"[..])
        .unwrap();
    let saved_model = saved_model.into_inner().unwrap().finish().unwrap();
    HashMap::from([
        ("/models/fraud-gbm/3/model.pmml".into(), b"test".to_vec()),
        (
            "/models/merchant-risk/12/model.pkl".into(),
            b"test2".to_vec(),
        ),
        ("/models/ranker/5/graph.pb".into(), b"password".to_vec()),
        (
            "/models/basket-affinity/1.4/model.rds".into(),
            b"an R model\n".to_vec(),
        ),
        (
            "/ml-artifacts/txn-embedding/2024.06/saved_model.tar.gz".into(),
            saved_model,
        ),
    ])
}

/// The model store of the pods on real-0: `model_files()` over plain HTTP (`serve_http`).
fn serve_models() -> String {
    serve_http(model_files()).base
}

/// A plain HTTP server on the host address (a test's own, on a free port), so pods on real-0
/// reach it: `GET` answers `files` by path (unknown paths 404), `POST` keeps the body under its
/// path in `posted` and answers 204.
struct HttpFixture {
    base: String,
    posted: Arc<Posted>,
}

/// The bodies POSTed to an `HttpFixture`, with their paths, in arrival order.
type Posted = Mutex<Vec<(String, Vec<u8>)>>;

fn serve_http(files: HashMap<String, Vec<u8>>) -> HttpFixture {
    let listener = TcpListener::bind((HOST_IP, 0)).expect("bind the host address of real-0");
    let base = format!("http://{}", listener.local_addr().unwrap());
    let files = Arc::new(files);
    let posted = Arc::new(Mutex::new(Vec::new()));
    let kept = posted.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let (files, kept) = (files.clone(), kept.clone());
            std::thread::spawn(move || answer(stream, &files, &kept));
        }
    });
    HttpFixture { base, posted }
}

fn answer(mut stream: std::net::TcpStream, files: &HashMap<String, Vec<u8>>, posted: &Posted) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    let mut content_length = 0;
    let mut header = String::new();
    while reader.read_line(&mut header).is_ok_and(|n| n > 2) {
        if let Some((name, value)) = header.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            content_length = value.trim().parse().unwrap_or(0);
        }
        header.clear();
    }
    let mut words = request_line.split(' ');
    let (method, path) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
    let (status, body): (&str, &[u8]) = if method == "POST" {
        let mut body = vec![0; content_length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        posted.lock().unwrap().push((path.to_string(), body));
        ("204 No Content", b"")
    } else {
        match files.get(path) {
            Some(body) => ("200 OK", body),
            None => ("404 Not Found", b"not found\n"),
        }
    };
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nContent-Type: application/octet-stream\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the real node: scripts/test.sh runs it with MODELOPS_TESTCLUSTER_REAL_NODE=1"]
async fn the_executor_image_runs_version_and_its_log_is_readable() {
    let Some(mut scene) = Scene::new("executor_image_version").await else {
        return;
    };
    let namespaces: Api<Namespace> = Api::all(scene.client.clone());
    namespaces
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": scene.namespace}})).unwrap(),
        )
        .await
        .unwrap();
    let pods: Api<Pod> = Api::namespaced(scene.client.clone(), &scene.namespace);
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": "executor-version"},
        "spec": {
            "restartPolicy": "Never",
            "nodeSelector": {REAL_NODE_LABEL.0: REAL_NODE_LABEL.1},
            "tolerations": [{"key": REAL_NODE_LABEL.0, "operator": "Exists", "effect": "NoSchedule"}],
            "automountServiceAccountToken": false,
            "containers": [{"name": "executor", "image": EXECUTOR_IMAGE, "imagePullPolicy": "Never", "args": ["--version"]}],
        }
    }))
    .unwrap();
    pods.create(&PostParams::default(), &pod).await.unwrap();
    let started = Instant::now();
    let phase = loop {
        let pod = pods.get("executor-version").await.unwrap();
        let phase = pod.status.and_then(|s| s.phase).unwrap_or_default();
        if phase == "Succeeded" || phase == "Failed" {
            break phase;
        }
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "the executor pod is still {phase}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let log = pods
        .logs("executor-version", &LogParams::default())
        .await
        .unwrap();
    eprintln!("phase {phase} after {:?}; log: {log}", started.elapsed());
    assert_eq!(phase, "Succeeded", "{log}");
    assert!(
        log.starts_with("modelops-executor ") && log.contains("(commit "),
        "{log}"
    );
    // The image's user and working directory, as the Dockerfile's final stage sets them.
    let pod = pods.get("executor-version").await.unwrap();
    let node = pod.spec.and_then(|s| s.node_name).unwrap_or_default();
    assert_eq!(node, "real-0");
    let _ = namespaces
        .delete(&scene.namespace, &DeleteParams::background())
        .await;
    // No job was installed: nothing for `finally`.
    scene.cleaned = true;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the real node: scripts/test.sh runs it with MODELOPS_TESTCLUSTER_REAL_NODE=1"]
async fn a_scoring_service_image_that_does_not_exist_fails_install_fast() {
    let Some(scene) = Scene::new("missing_image").await else {
        return;
    };
    let values = scene.values("modelops-test/does-not-exist:1", None, json!({}));
    let ir = scene.ir("examples/streaming-recommendations", |text| text);
    let grace = 10;
    let (install, took) = scene.install(
        &ir,
        &values,
        &["--image-pull-grace", "10s", "--timeout", "3m"],
    );
    let message = stderr(&install);
    assert_eq!(install.status.code(), Some(1), "{message}");
    assert!(
        took < Duration::from_secs(grace + 30),
        "install took {took:?}, more than the pull grace + 30 s"
    );
    assert!(message.contains("pod/"), "names the pod: {message}");
    assert!(
        message.contains("container scoring-service"),
        "names the container: {message}"
    );
    assert!(
        message.contains("docker.io/modelops-test/does-not-exist:1"),
        "names the image: {message}"
    );
    assert!(
        message.contains("ErrImagePull") || message.contains("ImagePullBackOff"),
        "names the reason: {message}"
    );
    assert!(message.contains("recent events:"), "with events: {message}");
    scene.cleanup().await;
}

/// A scoring service that logs two lines and exits 3, every time.
fn crasher() -> Fixture {
    Fixture {
        reference: "modelops-test/crasher:1",
        entrypoint: &[
            "/bin/sh",
            "-c",
            "echo 'scorer: loading models'; echo 'scorer: FATAL model store unreachable' >&2; exit 3",
        ],
        files: vec![],
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the real node: scripts/test.sh runs it with MODELOPS_TESTCLUSTER_REAL_NODE=1"]
async fn a_crash_looping_scoring_service_fails_install_with_exit_code_and_log_tail() {
    let Some(scene) = Scene::new("crash_loop").await else {
        return;
    };
    scene.load(&crasher());
    let values = scene.values(crasher().reference, None, json!({}));
    let ir = scene.ir("examples/streaming-recommendations", |text| text);
    let (install, took) = scene.install(&ir, &values, &["--max-restarts", "1", "--timeout", "3m"]);
    let message = stderr(&install);
    assert_eq!(install.status.code(), Some(1), "{message}");
    assert!(took < Duration::from_secs(90), "install took {took:?}");
    assert!(
        message.contains("container scoring-service: CrashLoopBackOff"),
        "{message}"
    );
    assert!(message.contains("exit code 3"), "the exit code: {message}");
    assert!(message.contains("last log lines:"), "a log tail: {message}");
    assert!(
        message.contains("scorer: loading models")
            && message.contains("scorer: FATAL model store unreachable"),
        "the container's own last lines: {message}"
    );
    scene.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the real node: scripts/test.sh runs it with MODELOPS_TESTCLUSTER_REAL_NODE=1"]
async fn a_failing_init_container_is_reported_with_its_name_and_log_tail() {
    let Some(scene) = Scene::new("failing_init").await else {
        return;
    };
    // One model's artifact is missing from the store: fetch-models (the executor image) fails
    // with "not found" at once, every time the kubelet restarts it. The other service is healthy.
    scene.load(&http_scorer());
    let values = scene.values(http_scorer().reference, None, json!({}));
    let ir = scene.ir("examples/streaming-recommendations", |text| {
        text.replace(
            "basket-affinity/1.4/model.rds",
            "basket-affinity/1.4/missing.rds",
        )
    });
    let (install, _) = scene.install(&ir, &values, &["--max-restarts", "1", "--timeout", "3m"]);
    let message = stderr(&install);
    assert_eq!(install.status.code(), Some(1), "{message}");
    assert!(
        message.contains("container fetch-models: CrashLoopBackOff"),
        "names the init container: {message}"
    );
    assert!(message.contains("exit code 1"), "{message}");
    assert!(
        message.contains("last log lines:")
            && message.contains("basket-affinity")
            && message.contains("not found"),
        "the init container's log tail: {message}"
    );
    assert!(
        message.contains("recommendations-scoring-r-"),
        "names the R service, whose model is missing: {message}"
    );
    scene.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the real node: scripts/test.sh runs it with MODELOPS_TESTCLUSTER_REAL_NODE=1"]
async fn a_container_over_its_memory_limit_is_reported_oom_killed() {
    let Some(scene) = Scene::new("oom").await else {
        return;
    };
    // `tail` keeps the one endless line of /dev/zero in memory until the kernel kills it.
    let hog = Fixture {
        reference: "modelops-test/memory-hog:1",
        entrypoint: &["/bin/sh", "-c", "echo 'hog: allocating'; tail /dev/zero"],
        files: vec![],
    };
    scene.load(&hog);
    let values = scene.values(hog.reference, None, json!({}));
    let ir = scene.ir("examples/streaming-recommendations", |text| text);
    let (install, _) = scene.install(&ir, &values, &["--max-restarts", "1", "--timeout", "3m"]);
    let message = stderr(&install);
    assert_eq!(install.status.code(), Some(1), "{message}");
    assert!(message.contains("OOMKilled"), "{message}");
    assert!(message.contains("exit code 137"), "{message}");
    scene.cleanup().await;
}

/// A scoring service answering the Open Inference Protocol on 8080 (busybox httpd) at the paths
/// of the charts' probes and of await-services: /v2/health/live, /v2/health/ready, and
/// /v2/models/<name>/versions/<version>/ready for each model fetch-models put under /models.
fn http_scorer() -> Fixture {
    Fixture {
        reference: "modelops-test/http-scorer:1",
        entrypoint: &[
            "/bin/sh",
            "-c",
            "set -e; mkdir -p /tmp/www/v2/health; echo ok > /tmp/www/v2/health/ready; echo ok > /tmp/www/v2/health/live; \
             for dir in /models/*/*/; do model=${dir#/models/}; model=${model%/}; \
             mkdir -p /tmp/www/v2/models/${model%%/*}/versions/${model#*/}; echo ok > /tmp/www/v2/models/${model%%/*}/versions/${model#*/}/ready; done; \
             exec httpd -f -v -p 8080 -h /tmp/www",
        ],
        files: vec![],
    }
}

/// examples/batch-fraud without its STATISTICA model (a Windows service, simulated by kwok and
/// so not reachable from a real pod): every flow then calls only real Linux scoring services.
fn without_windows(text: String) -> String {
    if text.contains("kind: ScoringFlow") {
        let without_step = text.replace("    - {name: scorecard, model: legacy-scorecard}\n", "");
        assert_ne!(
            text, without_step,
            "examples/batch-fraud/flows.yaml changed"
        );
        return without_step;
    }
    if text.contains("kind: Model") {
        let kept: Vec<&str> = text
            .split("\n---\n")
            .filter(|doc| !doc.contains("name: legacy-scorecard"))
            .collect();
        assert_eq!(kept.len() + 1, text.split("\n---\n").count());
        return kept.join("\n---\n");
    }
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the real node: scripts/test.sh runs it with MODELOPS_TESTCLUSTER_REAL_NODE=1"]
async fn a_flow_reaches_its_scoring_services_by_service_name() {
    let Some(scene) = Scene::new("service_dns").await else {
        return;
    };
    scene.load(&http_scorer());
    // Each flow pod's init container (wait-for-scoring-services: the executor's `await-services`)
    // asks http://<service>:8080/v2/health/ready through cluster DNS and the Service's ClusterIP,
    // and the flow starts only once every service answered; the services' `fetch-models` got
    // their models from the test's store first.
    let flow = Fixture {
        reference: "modelops-test/flow-ok:1",
        entrypoint: &["/bin/sh", "-c", "echo 'flow: scored'"],
        files: vec![],
    };
    scene.load(&flow);
    let values = scene.values(http_scorer().reference, Some(flow.reference), json!({}));
    let ir = scene.ir("examples/batch-fraud", without_windows);
    // The merchants flow reads its data channel's credentials Secret (envFrom, not optional):
    // kwok never looks, a real kubelet refuses to start the container without it.
    let namespaces: Api<Namespace> = Api::all(scene.client.clone());
    namespaces
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": scene.namespace}})).unwrap(),
        )
        .await
        .unwrap();
    let secrets: Api<Secret> = Api::namespaced(scene.client.clone(), &scene.namespace);
    secrets
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "warehouse-reader"}, "stringData": {"PGUSER": "fixture"}})).unwrap(),
        )
        .await
        .unwrap();
    let (install, _) = scene.install(
        &ir,
        &values,
        &[
            "--timeout",
            "3m",
            "--set",
            "scoring-flow.waitForScoringServices.timeoutSeconds=60",
            "--set",
            "scoring-flow.waitForScoringServices.intervalSeconds=2",
        ],
    );
    assert!(install.status.success(), "{}", stderr(&install));
    let wait = scene.run(&[
        "wait",
        "--job-id",
        &scene.job_id,
        "--namespace",
        &scene.namespace,
        "--timeout",
        "3m",
    ]);
    assert!(wait.status.success(), "{}", stderr(&wait));
    // The flow pods ran on real-0; their init containers logged each service as ready.
    let pods: Api<Pod> = Api::namespaced(scene.client.clone(), &scene.namespace);
    let flow_pods = flow_pods_on_real_0(&scene).await;
    assert!(!flow_pods.is_empty(), "no flow pods");
    for pod in &flow_pods {
        let name = pod.metadata.name.clone().unwrap();
        let init_log = pods
            .logs(
                &name,
                &LogParams {
                    container: Some("wait-for-scoring-services".into()),
                    ..LogParams::default()
                },
            )
            .await
            .unwrap();
        eprintln!("{name} wait-for-scoring-services:\n{init_log}");
        assert!(
            init_log.contains("service ready")
                && init_log.contains("every scoring service is ready"),
            "{name}: {init_log}"
        );
    }
    scene.cleanup().await;
}

// ---- Issue 17: the python runtime's default image really serves, and `validate` says so ----

/// The python chart's default image: scripts/mlserver-image.sh builds it from Debian packages and
/// PyPI (cached) and loads it on real-0 under this reference; it returns the root filesystem,
/// whose python (with the image's own scikit-learn) trains the test models.
const MLSERVER_IMAGE: &str = "docker.io/seldonio/mlserver:1.7.1-sklearn";

fn mlserver_image(state: &Path) -> PathBuf {
    let script = root().join("scripts/mlserver-image.sh");
    let started = Instant::now();
    run_checked(
        Command::new(&script)
            .arg("load")
            .env("MODELOPS_TESTCLUSTER_DIR", state),
    );
    eprintln!(
        "mlserver image ready in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    let rootfs = run_checked(Command::new(&script).arg("rootfs"));
    PathBuf::from(String::from_utf8(rootfs.stdout).unwrap().trim())
}

/// A model the test trains, and what it predicts for a few rows.
struct Trained {
    joblib: Vec<u8>,
    rows: Value,
    predictions: Value,
    /// Every row of the iris data set, and the model's prediction of each.
    all_rows: Value,
    all_predictions: Value,
}

/// Trains a logistic regression on scikit-learn's bundled iris data with the image's own python
/// (chroot into its root filesystem, so the pickle matches the server's scikit-learn).
/// `load_delay`: the pickle sleeps that long when loaded, so the server's model load is slow.
fn train(rootfs: &Path, load_delay: u32) -> Trained {
    let script = r#"
import json, operator, sys, time
import joblib
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

class Sleep:
    def __reduce__(self):
        return (time.sleep, (float(sys.argv[2]),))

class SlowToLoad:
    """Unpickles to the model itself, after sleeping: (sleep(), model)[1]."""
    def __init__(self, model):
        self.model = model
    def __reduce__(self):
        return (operator.getitem, ((Sleep(), self.model), 1))

X, y = load_iris(return_X_y=True)
model = LogisticRegression(max_iter=500).fit(X, y)
delay = float(sys.argv[2])
joblib.dump(SlowToLoad(model) if delay > 0 else model, sys.argv[1])
rows = X[[0, 60, 120, 30, 75]].tolist()
print(json.dumps({"rows": rows, "predictions": model.predict(rows).tolist(),
                  "all_rows": X.tolist(), "all_predictions": model.predict(X).tolist()}))
"#;
    let work = format!("tmp/modelops-train-{}", common::unique_suffix());
    let dir = rootfs.join(&work);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("train.py"), script).unwrap();
    let output = Command::new("/usr/sbin/chroot")
        .arg(rootfs)
        .arg("/opt/mlserver/venv/bin/python")
        .arg(format!("/{work}/train.py"))
        .arg(format!("/{work}/model.joblib"))
        .arg(load_delay.to_string())
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("HOME", "/tmp")
        .output()
        .expect("chroot runs");
    let joblib = std::fs::read(dir.join("model.joblib"));
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(
        output.status.success(),
        "training failed: {}",
        stderr(&output)
    );
    let answer: Value = serde_json::from_slice(&output.stdout).unwrap();
    Trained {
        joblib: joblib.unwrap(),
        rows: answer["rows"].clone(),
        predictions: answer["predictions"].clone(),
        all_rows: answer["all_rows"].clone(),
        all_predictions: answer["all_predictions"].clone(),
    }
}

/// The MLServer image loaded on real-0, and the iris model trained with its python (`train`)
/// stored as `<job>/iris/1/model.joblib` in the S3-compatible store, whose credentials Secret
/// the job's namespace (created here) gets. Returns the model and its URI.
async fn stored_iris_model(scene: &Scene, load_delay: u32) -> (Trained, String) {
    let (model, uri, store) = uploaded_iris_model(scene, load_delay).await;
    store.credentials(scene).await;
    (model, uri)
}

/// The iris model trained in the MLServer image, uploaded to the S3-compatible store: the model,
/// its `s3://` URI and the store (no credentials Secret made).
async fn uploaded_iris_model(scene: &Scene, load_delay: u32) -> (Trained, String, Store) {
    let rootfs = mlserver_image(&scene.state);
    let model = train(&rootfs, load_delay);
    let store = Store::start();
    let uri = store
        .upload(
            &format!("{}/iris/1/model.joblib", scene.job_id),
            model.joblib.clone(),
        )
        .await;
    (model, uri, store)
}

/// The S3-compatible store (moto) on the real node's host address, so pods on real-0 reach it:
/// its own state directory beside the default one (which listens on loopback).
struct Store {
    env: Vec<(String, String)>,
}

impl Store {
    fn start() -> Store {
        let state =
            std::env::var("HOME").unwrap() + "/.cache/modelops-artifact-stores/run-real-node";
        let output = run_checked(
            Command::new(root().join("scripts/artifact-stores.sh"))
                .arg("s3")
                .env("MODELOPS_ARTIFACT_STORES_HOST", "10.250.0.1")
                .env("MODELOPS_ARTIFACT_STORES_DIR", state),
        );
        let env = String::from_utf8(output.stdout)
            .unwrap()
            .lines()
            .filter_map(|l| l.strip_prefix("export ")?.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Store { env }
    }

    fn var(&self, name: &str) -> &str {
        &self.env.iter().find(|(k, _)| k == name).unwrap().1
    }

    async fn upload(&self, key: &str, bytes: Vec<u8>) -> String {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let store = object_store::aws::AmazonS3Builder::new()
            .with_endpoint(self.var("AWS_ENDPOINT_URL"))
            .with_allow_http(true)
            .with_access_key_id(self.var("AWS_ACCESS_KEY_ID"))
            .with_secret_access_key(self.var("AWS_SECRET_ACCESS_KEY"))
            .with_region("us-east-1")
            .with_bucket_name(self.var("MODELOPS_TEST_BUCKET"))
            .build()
            .unwrap();
        use object_store::ObjectStoreExt as _;
        store
            .put(
                &object_store::path::Path::from(key),
                object_store::PutPayload::from(bytes),
            )
            .await
            .unwrap_or_else(|e| panic!("upload {key}: {e}"));
        format!("s3://{}/{key}", self.var("MODELOPS_TEST_BUCKET"))
    }

    /// The job namespace's credentials Secret (the chart's global.artifacts.credentialsSecret).
    async fn credentials(&self, scene: &Scene) {
        let namespaces: Api<Namespace> = Api::all(scene.client.clone());
        let namespace: Namespace =
            serde_json::from_value(json!({"metadata": {"name": scene.namespace}})).unwrap();
        namespaces
            .create(&PostParams::default(), &namespace)
            .await
            .unwrap();
        let data: serde_json::Map<String, Value> = [
            "AWS_ENDPOINT_URL",
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "AWS_REGION",
        ]
        .iter()
        .map(|k| (k.to_string(), json!(self.var(k))))
        .collect();
        let secret: Secret = serde_json::from_value(json!({
            "metadata": {"name": "modelops-artifact-credentials"},
            "stringData": data,
        }))
        .unwrap();
        Api::<Secret>::namespaced(scene.client.clone(), &scene.namespace)
            .create(&PostParams::default(), &secret)
            .await
            .unwrap();
    }
}

/// The spec of a flow that scores the merchants channel of examples/channels with `model`.
fn merchants_flow(model: &str) -> Value {
    json!({
        "source": {"channel": "merchants", "format": "merchant-v2"},
        "sink": {"channel": "merchant-scores", "format": "score-v1"},
        "steps": [{"name": "species", "model": model}],
    })
}

/// A batch IR of one flow `score-iris` (its spec: `flow`) and one PYTHON_BINARY model;
/// `validation` is the Model's spec.validation.
fn python_ir(
    dir: &Path,
    model: &str,
    uri: &str,
    sha256: &str,
    validation: Option<Value>,
    flow: Value,
) -> String {
    let ir = dir.join(format!("ir-{model}"));
    std::fs::create_dir_all(&ir).unwrap();
    std::fs::write(
        ir.join("pipeline.yaml"),
        "apiVersion: modelops.io/v1\nkind: ScoringPipeline\nmetadata: {name: iris}\nspec: {mode: batch, flows: [score-iris]}\n",
    )
    .unwrap();
    let flow = json!({"apiVersion": "modelops.io/v1", "kind": "ScoringFlow", "metadata": {"name": "score-iris"}, "spec": flow});
    std::fs::write(ir.join("flows.yaml"), flow.to_string()).unwrap();
    // JSON is YAML.
    let document = python_model(model, uri, sha256, validation);
    std::fs::write(ir.join("models.yaml"), document.to_string()).unwrap();
    ir.display().to_string()
}

/// A PYTHON_BINARY Model of version 1; `validation` is its spec.validation.
fn python_model(name: &str, uri: &str, sha256: &str, validation: Option<Value>) -> Value {
    let mut spec = json!({"format": "PYTHON_BINARY", "version": "1", "artifact": {"uri": uri, "sha256": sha256}});
    if let Some(validation) = validation {
        spec["validation"] = validation;
    }
    json!({"apiVersion": "modelops.io/v1", "kind": "Model", "metadata": {"name": name}, "spec": spec})
}

/// A file that downloads and verifies (its sha256 is right) but that MLServer cannot load, stored
/// as `<job>/<name>/1/model.joblib`: its URI and sha256.
async fn upload_not_a_model(store: &Store, scene: &Scene, name: &str) -> (String, String) {
    let bytes = b"not a model\n".to_vec();
    let sha256 = sha256_hex(&bytes);
    let uri = store
        .upload(&format!("{}/{name}/1/model.joblib", scene.job_id), bytes)
        .await;
    (uri, sha256)
}

/// Values that put the python scoring service, with the chart's default image, on real-0; the
/// init containers run the executor image loaded on real-0. The flows stay on the kwok nodes,
/// or, with `flow_image`, run that image (`docker.io/<reference>`) on real-0.
fn mlserver_values(scene: &Scene, flow_image: Option<&str>) -> String {
    let (repository, tag) = EXECUTOR_IMAGE.split_once(':').unwrap();
    let (registry, repository) = repository.split_once('/').unwrap();
    let mut values = json!({
        "global": {
            "images": {"executor": {"registry": registry, "repository": repository, "tag": tag, "pullPolicy": "IfNotPresent"}},
            "resources": {
                "scoringService": {"requests": {"cpu": "50m", "memory": "128Mi"}, "limits": {"cpu": "1", "memory": "512Mi"}},
                "scoringFlow": {"requests": {"cpu": "10m", "memory": "16Mi"}, "limits": {"cpu": "500m", "memory": "64Mi"}},
            },
        },
        "scoring-service-python": real_node_placement(),
    });
    if let Some(reference) = flow_image {
        let (repository, tag) = reference.rsplit_once(':').unwrap();
        let mut flow = real_node_placement();
        flow["image"] = json!({"registry": "docker.io", "repository": repository, "tag": tag, "pullPolicy": "IfNotPresent"});
        values["scoring-flow"] = flow;
    }
    let path = scene.dir.path().join("mlserver-values.yaml");
    std::fs::write(&path, values.to_string()).unwrap();
    path.display().to_string()
}

fn sha256_hex(bytes: &[u8]) -> String {
    modelops_executor::digest::sha256_hex(bytes)
}

/// The job's flow pods, each checked to have run on real-0.
async fn flow_pods_on_real_0(scene: &Scene) -> Vec<Pod> {
    let pods: Api<Pod> = Api::namespaced(scene.client.clone(), &scene.namespace);
    let flow_pods = pods
        .list(&ListParams::default().labels("app.kubernetes.io/component=scoring-flow"))
        .await
        .unwrap()
        .items;
    for pod in &flow_pods {
        assert_eq!(
            pod.spec.as_ref().and_then(|s| s.node_name.as_deref()),
            Some("real-0"),
            "{}",
            pod.metadata.name.as_deref().unwrap_or_default()
        );
    }
    flow_pods
}

/// The scoring service's one pod. Pods being deleted are not counted: `finally` leaves a job's pods to the garbage collector, so
/// an earlier install's pod may still be terminating in the namespace.
async fn service_pod(scene: &Scene) -> Pod {
    let pods: Api<Pod> = Api::namespaced(scene.client.clone(), &scene.namespace);
    let mut current: Vec<Pod> = pods
        .list(&ListParams::default().labels("app.kubernetes.io/component=scoring-service"))
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|pod| pod.metadata.deletion_timestamp.is_none())
        .collect();
    assert_eq!(current.len(), 1, "one scoring service pod");
    current.remove(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the real node: scripts/test.sh runs it with MODELOPS_TESTCLUSTER_REAL_NODE=1"]
async fn mlserver_serves_a_trained_model_and_validate_blesses_its_answers() {
    let Some(scene) = Scene::new("mlserver_blessed").await else {
        return;
    };
    // Loading takes 20 s: the pod must not be ready before the model is.
    const LOAD_DELAY: u32 = 20;
    let (model, uri) = stored_iris_model(&scene, LOAD_DELAY).await;
    let n = model.rows.as_array().unwrap().len();
    let validation = json!({"requests": [{
        "request": {"inputs": [{"name": "measurements", "shape": [n, 4], "datatype": "FP64", "data": model.rows}]},
        "expected": {"outputs": [{"name": "predict", "shape": [n, 1], "data": model.predictions}]},
    }]});
    let ir = python_ir(
        scene.dir.path(),
        "iris",
        &uri,
        &sha256_hex(&model.joblib),
        Some(validation),
        merchants_flow("iris"),
    );
    let values = mlserver_values(&scene, None);
    let (install, took) = scene.install(&ir, &values, &["--timeout", "4m", "--max-restarts", "1"]);
    assert!(install.status.success(), "{}", stderr(&install));
    eprintln!("install with MLServer took {:.1}s", took.as_secs_f64());

    // Ready only once the model had loaded (the pickle sleeps LOAD_DELAY s). MLServer loads in
    // its event loop (MLSERVER_PARALLEL_WORKERS=0, docs/runtimes.md), so during those seconds it
    // answers no probe at all: this shows the pod is not Ready early, not which probe path holds it.
    let pod = service_pod(&scene).await;
    let image = pod.spec.as_ref().unwrap().containers[0].image.clone();
    assert_eq!(
        image.as_deref(),
        Some(MLSERVER_IMAGE),
        "the chart's default image"
    );
    let status = pod.status.unwrap();
    let started = status.container_statuses.as_ref().unwrap()[0]
        .state
        .as_ref()
        .unwrap()
        .running
        .as_ref()
        .unwrap()
        .started_at
        .clone()
        .unwrap()
        .0;
    let ready_at = status
        .conditions
        .unwrap()
        .into_iter()
        .find(|c| c.type_ == "Ready" && c.status == "True")
        .unwrap()
        .last_transition_time
        .unwrap()
        .0;
    let not_ready_for = ready_at.as_second() - started.as_second();
    assert!(
        not_ready_for >= i64::from(LOAD_DELAY) - 1,
        "the pod was ready {not_ready_for}s after its container started, before its model loaded ({LOAD_DELAY}s)"
    );

    // LOAD_AND_QUERY from the IR's spec.validation: the answers equal the local predictions.
    let results = scene.dir.path().join("results");
    let results_arg = results.display().to_string();
    let (validate, took) = scene.run_job("validate", &["--results-dir", &results_arg]);
    let stdout = String::from_utf8_lossy(&validate.stdout).into_owned();
    assert_eq!(
        validate.status.code(),
        Some(0),
        "{stdout}{}",
        stderr(&validate)
    );
    assert!(
        stdout.contains("/iris@1: blessed (1 sample requests answered)"),
        "{stdout}"
    );
    assert_eq!(
        std::fs::read_to_string(results.join("validation")).unwrap(),
        "blessed"
    );
    eprintln!("validate took {:.2}s", took.as_secs_f64());

    // A wrong expectation in a --requests file (it replaces the IR's): not blessed, exit 1, the
    // model and the difference named.
    let mut wrong = model.predictions.as_array().unwrap().clone();
    wrong[0] = json!(wrong[0].as_i64().unwrap() + 1);
    let requests = json!({"models": [{"name": "iris", "requests": [{
        "request": {"inputs": [{"name": "measurements", "shape": [n, 4], "datatype": "FP64", "data": model.rows}]},
        "expected": {"outputs": [{"name": "predict", "data": wrong}]},
    }]}]});
    let requests_file = scene.dir.path().join("requests.yaml");
    std::fs::write(&requests_file, requests.to_string()).unwrap();
    let requests_arg = requests_file.display().to_string();
    let validate = scene.run(&[
        "validate",
        "--job-id",
        &scene.job_id,
        "--namespace",
        &scene.namespace,
        "--mode",
        "load-and-query",
        "--requests",
        &requests_arg,
        "--results-dir",
        &results_arg,
    ]);
    assert_eq!(validate.status.code(), Some(1), "{}", stderr(&validate));
    let result = std::fs::read_to_string(results.join("validation")).unwrap();
    assert!(
        result.starts_with("not-blessed: iris-scoring-python-"),
        "{result}"
    );
    assert!(
        result.contains("/iris@1: request 1: output `predict` value 0 is"),
        "{result}"
    );
    scene.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the real node: scripts/test.sh runs it with MODELOPS_TESTCLUSTER_REAL_NODE=1"]
async fn a_file_that_is_not_a_model_fails_install_naming_the_model() {
    let Some(scene) = Scene::new("mlserver_not_a_model").await else {
        return;
    };
    mlserver_image(&scene.state);
    let store = Store::start();
    let (uri, sha256) = upload_not_a_model(&store, &scene, "not-a-model").await;
    store.credentials(&scene).await;
    let ir = python_ir(
        scene.dir.path(),
        "not-a-model",
        &uri,
        &sha256,
        None,
        merchants_flow("not-a-model"),
    );
    let values = mlserver_values(&scene, None);
    let (install, _) = scene.install(&ir, &values, &["--timeout", "3m", "--max-restarts", "1"]);
    let message = stderr(&install);
    assert_eq!(install.status.code(), Some(1), "{message}");
    assert!(
        message.contains("container scoring-service: CrashLoopBackOff"),
        "{message}"
    );
    assert!(
        message.contains("error lines earlier in the log:")
            && message.contains("Couldn't load model 'not-a-model'"),
        "names the model: {message}"
    );
    // Never ready: the probes did not take the server's start for a model's.
    let pod = service_pod(&scene).await;
    let ready = pod
        .status
        .unwrap()
        .conditions
        .unwrap()
        .into_iter()
        .find(|c| c.type_ == "Ready")
        .unwrap();
    assert_eq!(ready.status, "False");
    scene.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the real node: scripts/test.sh runs it with MODELOPS_TESTCLUSTER_REAL_NODE=1"]
async fn a_service_of_two_models_with_one_broken_fails_install_naming_it() {
    let Some(scene) = Scene::new("two_models_one_broken").await else {
        return;
    };
    // One MLServer serves both. The probe asks the last model by name, `iris`, which loads;
    // `broken` downloads and verifies but cannot load, and only minReadySeconds keeps the pod
    // from counting as available in the moment before the server stops (docs/runtimes.md).
    let (model, uri, store) = uploaded_iris_model(&scene, 0).await;
    let (broken_uri, broken_sha256) = upload_not_a_model(&store, &scene, "broken").await;
    store.credentials(&scene).await;
    let mut flow = merchants_flow("iris");
    flow["steps"]
        .as_array_mut()
        .unwrap()
        .push(json!({"name": "second-opinion", "model": "broken"}));
    let ir = python_ir(
        scene.dir.path(),
        "iris",
        &uri,
        &sha256_hex(&model.joblib),
        None,
        flow,
    );
    let broken = python_model("broken", &broken_uri, &broken_sha256, None);
    let models = Path::new(&ir).join("models.yaml");
    let both = std::fs::read_to_string(&models).unwrap() + "\n---\n" + &broken.to_string();
    std::fs::write(&models, both).unwrap();
    let values = mlserver_values(&scene, None);
    let (install, _) = scene.install(&ir, &values, &["--timeout", "3m", "--max-restarts", "1"]);
    let message = stderr(&install);
    assert_eq!(install.status.code(), Some(1), "{message}");
    assert!(
        message.contains("container scoring-service: CrashLoopBackOff")
            && message.contains("Couldn't load model 'broken'"),
        "{message}"
    );
    let deployments: Api<Deployment> = Api::namespaced(scene.client.clone(), &scene.namespace);
    let service = deployments
        .list(&ListParams::default().labels("app.kubernetes.io/component=scoring-service"))
        .await
        .unwrap()
        .items
        .remove(0);
    let spec = service.spec.unwrap();
    assert_eq!(spec.min_ready_seconds, Some(5));
    let probe = spec.template.spec.unwrap().containers[0]
        .readiness_probe
        .clone()
        .unwrap();
    assert_eq!(
        probe.http_get.unwrap().path.as_deref(),
        Some("/v2/models/iris/versions/1/ready")
    );
    let available = service.status.and_then(|status| status.available_replicas);
    assert_eq!(available.unwrap_or(0), 0, "never available");
    scene.cleanup().await;
}

// ---- Issue 17 item 4: a batch job that really scores ----

/// The test flow runner (tests/images/flow-runner, a stand-in for the platform's flow runtime):
/// a static Go binary built here (Go's build cache makes a rebuild quick), packed by the image
/// builder and loaded on real-0. Returns its reference.
fn flow_runner_image(scene: &Scene) -> &'static str {
    let source = root().join("tests/images/flow-runner");
    let binary = scene.dir.path().join("flow-runner");
    run_checked(
        Command::new("go")
            .args(["build", "-trimpath", "-ldflags", "-s -w", "-o"])
            .arg(&binary)
            .arg(".")
            .current_dir(&source)
            .env("CGO_ENABLED", "0"),
    );
    scene.build_and_import(&source.join("image.json"), &[("FLOW_RUNNER", &binary)]);
    "modelops-test/flow-runner:1"
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the real node: scripts/test.sh runs it with MODELOPS_TESTCLUSTER_REAL_NODE=1"]
async fn a_batch_job_scores_every_record_through_mlserver() {
    let Some(scene) = Scene::new("batch_scores").await else {
        return;
    };
    let (model, uri) = stored_iris_model(&scene, 0).await;
    let flow_image = flow_runner_image(&scene);

    // The data: every row of the iris set, one JSON line per record, served by the test on the
    // host address; the sink is the same server, which keeps what is POSTed to /scored.
    let rows = model.all_rows.as_array().unwrap();
    let records: String = rows
        .iter()
        .enumerate()
        .map(|(id, row)| format!("{}\n", json!({"id": id, "features": row})))
        .collect();
    let channel = serve_http(HashMap::from([(
        "/records".to_string(),
        records.into_bytes(),
    )]));
    // The flow's two channels, registered in the job's namespace (install --channels-namespace),
    // so they go with it and no other test sees them.
    let config_maps: Api<ConfigMap> = Api::namespaced(scene.client.clone(), &scene.namespace);
    for (name, kind, path) in [
        ("iris-records", "source", "/records"),
        ("iris-scored", "sink", "/scored"),
    ] {
        let config_map: ConfigMap = serde_json::from_value(json!({
            "metadata": {"name": format!("channel-{name}"), "labels": {"modelops.io/data-channel": name}},
            "data": {"kind": kind, "type": "http", "format": "iris-v1", "url": format!("{}{path}", channel.base)},
        }))
        .unwrap();
        config_maps
            .create(&PostParams::default(), &config_map)
            .await
            .unwrap();
    }

    // Two shards (replicas); a model step, then an expression step on its output with a parameter.
    let flow = json!({
        "source": {"channel": "iris-records", "format": "iris-v1"},
        "sink": {"channel": "iris-scored", "format": "iris-v1"},
        "parameters": {"label": "virginica"},
        "steps": [
            {"name": "species", "model": "iris"},
            {"name": "label", "expression": "species == 2 ? '${label}' : 'other'"},
        ],
        "replicas": 2,
    });
    let ir = python_ir(
        scene.dir.path(),
        "iris",
        &uri,
        &sha256_hex(&model.joblib),
        None,
        flow,
    );
    let values = mlserver_values(&scene, Some(flow_image));
    let (install, took) = scene.install(
        &ir,
        &values,
        &[
            "--channels-namespace",
            &scene.namespace,
            "--timeout",
            "4m",
            "--max-restarts",
            "1",
        ],
    );
    assert!(install.status.success(), "{}", stderr(&install));
    eprintln!("install took {:.1}s", took.as_secs_f64());

    let results = scene.dir.path().join("results");
    let results_arg = results.display().to_string();
    let (wait, took) = scene.run_job("wait", &["--timeout", "4m", "--results-dir", &results_arg]);
    assert!(wait.status.success(), "{}", stderr(&wait));
    assert_eq!(
        std::fs::read_to_string(results.join("phase")).unwrap(),
        "Succeeded"
    );
    eprintln!("wait took {:.1}s", took.as_secs_f64());

    // Each flow pod ran the runner on real-0 and wrote its shard once.
    let pods: Api<Pod> = Api::namespaced(scene.client.clone(), &scene.namespace);
    let flow_pods = flow_pods_on_real_0(&scene).await;
    assert_eq!(flow_pods.len(), 2, "one pod per shard");
    for pod in &flow_pods {
        let name = pod.metadata.name.clone().unwrap();
        let log = pods.logs(&name, &LogParams::default()).await.unwrap();
        eprintln!("{name}:\n{log}");
    }
    let posted = channel.posted.lock().unwrap().clone();
    assert_eq!(posted.len(), 2, "one POST per shard");

    // Every record is in the sink once, unchanged, with the model's local prediction and the
    // expression's value.
    let mut scored: Vec<Option<Value>> = vec![None; rows.len()];
    for (path, body) in &posted {
        assert_eq!(path, "/scored");
        for line in String::from_utf8(body.clone()).unwrap().lines() {
            let record: Value = serde_json::from_str(line).unwrap();
            let id = record["id"].as_u64().unwrap() as usize;
            assert!(scored[id].is_none(), "record {id} written twice");
            scored[id] = Some(record);
        }
    }
    let predictions = model.all_predictions.as_array().unwrap();
    for (id, record) in scored.iter().enumerate() {
        let record = record
            .as_ref()
            .unwrap_or_else(|| panic!("record {id} is not in the sink"));
        let species = predictions[id].as_i64().unwrap();
        let label = if species == 2 { "virginica" } else { "other" };
        // Numbers compared as numbers: Go writes 1.0 as 1.
        let numbers = |v: &Value| -> Vec<f64> {
            v.as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap())
                .collect()
        };
        assert_eq!(
            numbers(&record["features"]),
            numbers(&rows[id]),
            "record {id}"
        );
        assert_eq!(
            record["species"].as_f64(),
            Some(species as f64),
            "record {id}"
        );
        assert_eq!(record["label"], json!(label), "record {id}");
        assert_eq!(
            record.as_object().unwrap().len(),
            4,
            "record {id}: {record}"
        );
    }
    eprintln!("{} records scored, each as the model predicts", rows.len());
    scene.cleanup().await;
}

// ---- Issue 15 item 3: credentials made from install's environment, used by real pods ----

/// `install --artifact-credentials from-env` on the real node: install makes the job's Secret from
/// its own environment and the scoring service's `fetch-models` (the executor image on real-0)
/// downloads with it from the S3-compatible store. Wrong credentials fail install (exit 1) as
/// "access denied by S3" with neither secret in any output; a wrong sha256 fails it naming the model
/// and "sha256"; finally deletes the Secret each time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the real node: scripts/test.sh runs it with MODELOPS_TESTCLUSTER_REAL_NODE=1"]
async fn from_env_credentials_reach_fetch_models_and_wrong_ones_fail_install() {
    let Some(scene) = Scene::new("from_env_credentials").await else {
        return;
    };
    let (model, uri, store) = uploaded_iris_model(&scene, 0).await;
    let sha256 = sha256_hex(&model.joblib);
    let values = mlserver_values(&scene, None);
    let secret_name = modelops_executor::preprocess::credentials_secret_name(&scene.job_id);
    let secrets: Api<Secret> = Api::namespaced(scene.client.clone(), &scene.namespace);
    let right_secret = store.var("AWS_SECRET_ACCESS_KEY").to_string();
    let wrong_secret = "wrong-secret-7c1d9e";
    let install = |sha256: &str, secret: &str| {
        let ir = python_ir(
            scene.dir.path(),
            "iris",
            &uri,
            sha256,
            None,
            merchants_flow("iris"),
        );
        let args = scene.install_args(
            &ir,
            &values,
            &[
                "--artifact-credentials",
                "from-env",
                "--timeout",
                "4m",
                "--max-restarts",
                "1",
                "--log-format",
                "text",
            ],
        );
        let mut command = scene.command(&args);
        for name in ["AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_REGION"] {
            command.env(name, store.var(name));
        }
        command.env("AWS_SECRET_ACCESS_KEY", secret);
        let started = Instant::now();
        let output = command.output().expect("the binary runs");
        eprintln!(
            "$ install --artifact-credentials from-env ({:.1}s, {})\n{}",
            started.elapsed().as_secs_f64(),
            output.status,
            stderr(&output)
        );
        output
    };
    let finally_removes_the_secret = || async {
        let finally = scene.run(&scene.finally_args());
        assert!(finally.status.success(), "{}", stderr(&finally));
        assert!(
            secrets.get_opt(&secret_name).await.unwrap().is_none(),
            "finally deletes {secret_name}"
        );
        stderr(&finally)
    };

    let denied = install(&sha256, wrong_secret);
    let message = stderr(&denied);
    assert_eq!(denied.status.code(), Some(1), "{message}");
    assert!(
        message.contains("fetch-models") && message.contains("access denied by S3"),
        "{message}"
    );
    let finally = finally_removes_the_secret().await;
    for text in [&message, &finally] {
        assert!(
            !text.contains(wrong_secret) && !text.contains(&right_secret),
            "a secret leaked:\n{text}"
        );
    }

    let mismatch = install(&"0".repeat(64), &right_secret);
    let message = stderr(&mismatch);
    assert_eq!(mismatch.status.code(), Some(1), "{message}");
    assert!(
        message.contains("iris") && message.contains("sha256 mismatch"),
        "{message}"
    );
    finally_removes_the_secret().await;

    let installed = install(&sha256, &right_secret);
    assert!(installed.status.success(), "{}", stderr(&installed));
    let secret = secrets.get(&secret_name).await.unwrap();
    assert_eq!(
        secret.metadata.labels.unwrap()["modelops.io/job-id"],
        scene.job_id
    );
    // MLServer answered ready for the model: it is where the runtime looks for it.
    let pod = service_pod(&scene).await;
    let ready = pod.status.unwrap().conditions.unwrap();
    assert!(
        ready
            .iter()
            .any(|c| c.type_ == "Ready" && c.status == "True"),
        "{ready:?}"
    );
    assert!(!stderr(&installed).contains(&right_secret));
    finally_removes_the_secret().await;
    scene.cleanup().await;
}
