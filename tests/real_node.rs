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

use k8s_openapi::api::core::v1::{Namespace, Pod, Secret};
use kube::api::{Api, DeleteParams, ListParams, LogParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

mod common;

const BIN: &str = env!("CARGO_BIN_EXE_modelops-executor");
const EXECUTOR_IMAGE: &str = "ghcr.io/modelops/modelops-executor:0.1.0";
const REAL_NODE_LABEL: (&str, &str) = ("modelops.io/node", "real");
/// Scoring-service charts the fixtures point at real-0 (every Linux runtime).
const SERVICE_CHARTS: [&str; 4] = [
    "scoring-service-python",
    "scoring-service-r",
    "scoring-service-pmml",
    "scoring-service-tensorflow",
];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The test cluster's state directory (the kubeconfig's directory) when it has a real node.
fn real_node_state(test: &str, kubeconfig: &str) -> Option<PathBuf> {
    let state = Path::new(kubeconfig).parent()?.to_path_buf();
    if state.join("real-node").is_file() && state.join("nodebindir").is_file() {
        return Some(state);
    }
    let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty());
    let opted_out = std::env::var("MODELOPS_TESTCLUSTER_REAL_NODE").as_deref() == Ok("0");
    if ci && !opted_out {
        panic!(
            "{test}: the cluster of {kubeconfig} has no real node, but CI is set: start it with \
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

/// A fixture image: busybox (every applet linked), a user-less entrypoint, extra files.
struct Fixture {
    reference: &'static str,
    entrypoint: &'static [&'static str],
    files: Vec<Value>,
}

/// One test's world on the real node.
struct Scene {
    client: Client,
    kubeconfig: String,
    state: PathBuf,
    namespace: String,
    job_id: String,
    dir: tempfile::TempDir,
}

impl Scene {
    async fn new(test: &str) -> Option<Scene> {
        let kubeconfig = common::kubeconfig_path(test)?;
        let state = real_node_state(test, &kubeconfig)?;
        let config = Config::from_custom_kubeconfig(
            Kubeconfig::read_from(&kubeconfig).unwrap(),
            &KubeConfigOptions::default(),
        )
        .await
        .unwrap();
        let client = Client::try_from(config).unwrap();
        let suffix = common::unique_suffix();
        let short: String = test.replace('_', "-").chars().take(24).collect();
        let short = short.trim_end_matches('-').to_string();
        let scene = Scene {
            client,
            kubeconfig,
            state,
            namespace: format!("rn-{short}-{suffix}"),
            job_id: format!("{short}-{suffix}"),
            dir: tempfile::tempdir().unwrap(),
        };
        scene.register_channels();
        Some(scene)
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
        let out_dir = self.state.join("node/fixture-images");
        let built = run_checked(
            Command::new(self.node_bin("imagebuild"))
                .arg("-spec")
                .arg(&spec_path)
                .arg("-out-dir")
                .arg(&out_dir),
        );
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
        let placement = json!({
            "tolerations": [{"key": REAL_NODE_LABEL.0, "operator": "Equal", "value": REAL_NODE_LABEL.1, "effect": "NoSchedule"}],
            "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                {"matchExpressions": [{"key": REAL_NODE_LABEL.0, "operator": "In", "values": [REAL_NODE_LABEL.1]}]}]}}},
        });
        let small = json!({"requests": {"cpu": "10m", "memory": "16Mi"}, "limits": {"cpu": "500m", "memory": "64Mi"}});
        let mut values = json!({"global": {
            "images": {"tools": image("modelops-test/tools:1")},
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

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(BIN);
        command
            .args(args)
            .current_dir(root())
            .env("KUBECONFIG", &self.kubeconfig)
            .env_remove("RUST_LOG")
            .env_remove("MODELOPS_JOB_ID");
        command
    }

    /// Runs the binary; prints its stderr and how long it took.
    fn run(&self, args: &[&str]) -> (Output, Duration) {
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

    fn install(&self, ir: &str, values: &str, extra: &[&str]) -> (Output, Duration) {
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
        self.run(&args)
    }

    async fn cleanup(self) {
        let (finally, _) = self.run(&[
            "finally",
            "--job-id",
            &self.job_id,
            "--namespace",
            &self.namespace,
            "--force",
        ]);
        let namespaces: Api<Namespace> = Api::all(self.client.clone());
        let _ = namespaces
            .delete(&self.namespace, &DeleteParams::background())
            .await;
        assert!(finally.status.success(), "cleanup finally failed");
    }
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

/// A file of a fixture image.
fn text_file(path: &str, content: &str, mode: &str) -> Value {
    json!({"path": path, "content": content, "mode": mode})
}

/// The tools image the charts' init containers run (fetch-models, wait-for-scoring-services),
/// as far as the fixtures need it: busybox, `curl` answered by busybox wget, and a `jq` that
/// knows only the two questions fetch-models.sh asks and lists one model stored in the image.
fn tools() -> Fixture {
    Fixture {
        reference: "modelops-test/tools:1",
        entrypoint: &["/bin/sh"],
        files: vec![
            text_file(
                "/usr/bin/curl",
                "#!/bin/sh\n# curl -fs -o /dev/null --max-time 5 URL (wait-for-scoring-services)\nfor url; do :; done\n# (busybox 1.35 wget -T crashes: busybox timeout instead)\nexec timeout 5 wget -q -O /dev/null \"$url\"\n",
                "0755",
            ),
            text_file(
                "/usr/bin/jq",
                "#!/bin/sh\n# fetch-models.sh: `jq -e 'type == \"array\" and length > 0' FILE`, then the model list as TSV\ncase \"$1\" in\n  -e) exit 0 ;;\n  -r) printf 'fixture\\t1\\tfile:///opt/fixture-model.bin\\t\\n' ;;\n  *) echo \"jq stand-in: unexpected $*\" >&2; exit 2 ;;\nesac\n",
                "0755",
            ),
            text_file("/opt/fixture-model.bin", "a model\n", "0644"),
        ],
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the real node: scripts/test.sh runs it with MODELOPS_TESTCLUSTER_REAL_NODE=1"]
async fn the_executor_image_runs_version_and_its_log_is_readable() {
    let Some(scene) = Scene::new("executor_image_version").await else {
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
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the real node: scripts/test.sh runs it with MODELOPS_TESTCLUSTER_REAL_NODE=1"]
async fn a_scoring_service_image_that_does_not_exist_fails_install_fast() {
    let Some(scene) = Scene::new("missing_image").await else {
        return;
    };
    scene.load(&tools());
    let values = scene.values("modelops-test/does-not-exist:1", None, json!({}));
    let grace = 10;
    let (install, took) = scene.install(
        "examples/streaming-recommendations",
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
    scene.load(&tools());
    scene.load(&crasher());
    let values = scene.values(crasher().reference, None, json!({}));
    let (install, took) = scene.install(
        "examples/streaming-recommendations",
        &values,
        &["--max-restarts", "1", "--timeout", "3m"],
    );
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
    // Plain busybox as the tools image: fetch-models.sh finds no jq and gives up.
    let plain_tools = Fixture {
        reference: "modelops-test/tools-without-jq:1",
        entrypoint: &["/bin/sh"],
        files: vec![],
    };
    scene.load(&plain_tools);
    scene.load(&crasher());
    let values = scene.values(
        crasher().reference,
        None,
        json!({"images": {"tools": {"repository": "modelops-test/tools-without-jq", "tag": "1"}}}),
    );
    let (install, _) = scene.install(
        "examples/streaming-recommendations",
        &values,
        &["--max-restarts", "1", "--timeout", "3m"],
    );
    let message = stderr(&install);
    assert_eq!(install.status.code(), Some(1), "{message}");
    assert!(
        message.contains("container fetch-models: CrashLoopBackOff"),
        "names the init container: {message}"
    );
    assert!(message.contains("exit code 1"), "{message}");
    assert!(
        message.contains("last log lines:") && message.contains("holds no model list"),
        "the init container's log tail: {message}"
    );
    assert!(
        !message.contains("scorer: loading models"),
        "the main container never ran: {message}"
    );
    scene.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the real node: scripts/test.sh runs it with MODELOPS_TESTCLUSTER_REAL_NODE=1"]
async fn a_container_over_its_memory_limit_is_reported_oom_killed() {
    let Some(scene) = Scene::new("oom").await else {
        return;
    };
    scene.load(&tools());
    // `tail` keeps the one endless line of /dev/zero in memory until the kernel kills it.
    let hog = Fixture {
        reference: "modelops-test/memory-hog:1",
        entrypoint: &["/bin/sh", "-c", "echo 'hog: allocating'; tail /dev/zero"],
        files: vec![],
    };
    scene.load(&hog);
    let values = scene.values(hog.reference, None, json!({}));
    let (install, _) = scene.install(
        "examples/streaming-recommendations",
        &values,
        &["--max-restarts", "1", "--timeout", "3m"],
    );
    let message = stderr(&install);
    assert_eq!(install.status.code(), Some(1), "{message}");
    assert!(message.contains("OOMKilled"), "{message}");
    assert!(message.contains("exit code 137"), "{message}");
    scene.cleanup().await;
}

/// A scoring service answering the Open Inference Protocol's /v2/health/live and
/// /v2/health/ready on 8080 (busybox httpd), the paths of the charts' probes.
fn http_scorer() -> Fixture {
    Fixture {
        reference: "modelops-test/http-scorer:1",
        entrypoint: &[
            "/bin/sh",
            "-c",
            "mkdir -p /tmp/www/v2/health && echo ok > /tmp/www/v2/health/ready && echo ok > /tmp/www/v2/health/live && exec httpd -f -v -p 8080 -h /tmp/www",
        ],
        files: vec![],
    }
}

/// examples/batch-fraud without its STATISTICA model (a Windows service, simulated by kwok and
/// so not reachable from a real pod): every flow then calls only real Linux scoring services.
fn batch_ir_without_windows(dir: &Path) -> String {
    let ir = dir.join("batch-linux");
    std::fs::create_dir_all(&ir).unwrap();
    let source = root().join("examples/batch-fraud");
    let pipeline = std::fs::read_to_string(source.join("pipeline.yaml")).unwrap();
    std::fs::write(ir.join("pipeline.yaml"), pipeline).unwrap();
    let flows = std::fs::read_to_string(source.join("flows.yaml")).unwrap();
    let without_step = flows.replace("    - {name: scorecard, model: legacy-scorecard}\n", "");
    assert_ne!(
        flows, without_step,
        "examples/batch-fraud/flows.yaml changed"
    );
    std::fs::write(ir.join("flows.yaml"), without_step).unwrap();
    let models = std::fs::read_to_string(source.join("models.yaml")).unwrap();
    let kept: Vec<&str> = models
        .split("\n---\n")
        .filter(|doc| !doc.contains("name: legacy-scorecard"))
        .collect();
    assert_eq!(kept.len() + 1, models.split("\n---\n").count());
    std::fs::write(ir.join("models.yaml"), kept.join("\n---\n")).unwrap();
    ir.display().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the real node: scripts/test.sh runs it with MODELOPS_TESTCLUSTER_REAL_NODE=1"]
async fn a_flow_reaches_its_scoring_services_by_service_name() {
    let Some(scene) = Scene::new("service_dns").await else {
        return;
    };
    scene.load(&tools());
    scene.load(&http_scorer());
    // Each flow pod's init container (wait-for-scoring-services) asks
    // http://<service>:8080/v2/health/ready through cluster DNS and the Service's ClusterIP, and the flow
    // starts only once every service answered.
    let flow = Fixture {
        reference: "modelops-test/flow-ok:1",
        entrypoint: &["/bin/sh", "-c", "echo 'flow: scored'"],
        files: vec![],
    };
    scene.load(&flow);
    let values = scene.values(http_scorer().reference, Some(flow.reference), json!({}));
    let ir = batch_ir_without_windows(scene.dir.path());
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
    let (wait, _) = scene.run(&[
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
    let flow_pods: Vec<Pod> = pods
        .list(&ListParams::default().labels("app.kubernetes.io/component=scoring-flow"))
        .await
        .unwrap()
        .items;
    assert!(!flow_pods.is_empty(), "no flow pods");
    for pod in &flow_pods {
        let name = pod.metadata.name.clone().unwrap();
        assert_eq!(
            pod.spec.as_ref().and_then(|s| s.node_name.as_deref()),
            Some("real-0"),
            "{name}"
        );
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
        assert!(init_log.contains(" is ready"), "{name}: {init_log}");
    }
    scene.cleanup().await;
}
