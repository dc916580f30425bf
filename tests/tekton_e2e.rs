//! Tekton runs the shipped Pipeline for real (issue 16): Tekton Pipelines' controller and webhook
//! (scripts/testcluster.sh tekton) reconcile PipelineRuns of `modelops-scoring` started with `tkn
//! pipeline start`, as a user would; the TaskRun pods run the executor image on the real node
//! `real-0` (placed there by the run's pod template, never by an edit of tekton/).
//!
//! The objects of tekton/ (RBAC, Tasks, Pipeline) are applied unchanged into a fresh namespace
//! per test. The job's own scoring pods are left to the scheduler, which puts them on the kwok
//! nodes (real-0 is tainted): what is under test here is Tekton driving the executor, and kwok's
//! simulated pods let scoring finish without model stores or scoring images (docs/tekton.md "Tests").
//!
//! Gated like tests/real_node.rs: `#[ignore]`d unless scripts/test.sh runs with
//! MODELOPS_TESTCLUSTER_REAL_NODE=1 (then `--ignored`, after `scripts/testcluster.sh tekton`); run
//! by hand on a cluster without Tekton they skip visibly, and fail under `CI` unless that
//! variable says 0.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod};
use kube::api::{
    Api, DeleteParams, DynamicObject, GroupVersionKind, ListParams, Patch, PatchParams, PostParams,
};
use kube::discovery::{self, Scope};
use kube::runtime::watcher;
use kube::{Client, ResourceExt};
use serde_json::{Value, json};

#[macro_use]
mod common;
use common::{BIN, Stage, root};

const MANAGER: &str = "modelops-tekton-e2e";
const SERVICE_ACCOUNT: &str = "modelops-executor";
const REAL_NODE: (&str, &str) = ("modelops.io/node", "real");
/// The shipped files a user installs (docs/tekton.md "Install").
const INSTALL_FILES: [&str; 6] = [
    "tekton/rbac.yaml",
    "tekton/task-install.yaml",
    "tekton/task-validate.yaml",
    "tekton/task-wait.yaml",
    "tekton/task-finally.yaml",
    "tekton/pipeline.yaml",
];
const RUN_TIMEOUT: Duration = Duration::from_secs(300);

/// The directory of `tkn` (and Tekton's binaries) when the cluster runs Tekton on a real node.
fn tekton_bin(test: &str, kubeconfig: &str) -> Option<PathBuf> {
    let state = Path::new(kubeconfig).parent()?;
    let bindir = std::fs::read_to_string(state.join("tekton/bindir")).ok();
    let running = state.join("tekton/pids/tekton-controller.pid").is_file();
    if let Some(dir) = bindir.filter(|_| running && state.join("real-node").is_file()) {
        return Some(PathBuf::from(dir.trim()));
    }
    let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty());
    let opted_out = std::env::var("MODELOPS_TESTCLUSTER_REAL_NODE").as_deref() == Ok("0");
    if ci && !opted_out {
        panic!(
            "{test}: the cluster of {kubeconfig} runs no Tekton on a real node, but CI is set: \
             MODELOPS_TESTCLUSTER_REAL_NODE=1 scripts/testcluster.sh up && scripts/testcluster.sh tekton"
        );
    }
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED {test}: the cluster of {kubeconfig} runs no Tekton on a real node (scripts/testcluster.sh tekton)"
    );
    None
}

/// One test's namespace with the shipped Tekton objects in it.
struct Scene {
    /// The namespace the Tasks and Pipeline are installed in and the runs run in; the job id
    /// is the PipelineRun's.
    stage: Stage,
    tkn: PathBuf,
    dir: tempfile::TempDir,
}

scene_on_stage!(Scene);

impl Scene {
    async fn new(test: &str) -> Option<Scene> {
        let stage = Stage::new(test, "tk", 20).await?;
        let tkn = tekton_bin(test, &stage.kubeconfig)?.join("tkn");
        let scene = Scene {
            stage,
            tkn,
            dir: tempfile::tempdir().unwrap(),
        };
        let namespaces: Api<Namespace> = Api::all(scene.client.clone());
        namespaces
            .create(
                &PostParams::default(),
                &serde_json::from_value(json!({"metadata": {"name": scene.namespace}})).unwrap(),
            )
            .await
            .unwrap();
        for file in INSTALL_FILES {
            scene.apply_file(&root().join(file)).await;
        }
        // The batch example's STATISTICA services need a (simulated) Windows node.
        common::ensure_windows_node(&scene.client, MANAGER)
            .await
            .unwrap();
        // The Task's default credentials mode reads the platform's Secret in the job namespace.
        common::provide_artifact_credentials(&scene.client, &scene.namespace, MANAGER)
            .await
            .unwrap();
        Some(scene)
    }

    /// `kubectl apply -n <namespace> -f FILE`: server-side, unchanged but for the namespace.
    async fn apply_file(&self, path: &Path) {
        let text = std::fs::read_to_string(path).unwrap();
        for doc in modelops_executor::yaml::parse_documents(&text).unwrap() {
            let mut object = doc.value;
            object["metadata"]["namespace"] = json!(self.namespace);
            let api = self.api_for(&object).await;
            let name = object["metadata"]["name"].as_str().unwrap().to_string();
            api.patch(
                &name,
                &PatchParams::apply(MANAGER).force(),
                &Patch::Apply(&object),
            )
            .await
            .unwrap_or_else(|e| panic!("applying {name} from {}: {e}", path.display()));
        }
    }

    async fn api_for(&self, object: &Value) -> Api<DynamicObject> {
        let api_version = object["apiVersion"].as_str().unwrap();
        let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
        let gvk = GroupVersionKind::gvk(group, version, object["kind"].as_str().unwrap());
        let (resource, capabilities) = discovery::pinned_kind(&self.client, &gvk).await.unwrap();
        match capabilities.scope {
            Scope::Namespaced => {
                Api::namespaced_with(self.client.clone(), &self.namespace, &resource)
            }
            Scope::Cluster => Api::all_with(self.client.clone(), &resource),
        }
    }

    fn tekton_api(&self, kind: &str) -> Api<DynamicObject> {
        let gvk = GroupVersionKind::gvk("tekton.dev", "v1", kind);
        let resource = kube::api::ApiResource::from_gvk(&gvk);
        Api::namespaced_with(self.client.clone(), &self.namespace, &resource)
    }

    /// The pod template a user gives so that the TaskRun pods run on real-0.
    fn pod_template(&self) -> PathBuf {
        let path = self.dir.path().join("pod-template.yaml");
        let template = json!({
            "nodeSelector": {REAL_NODE.0: REAL_NODE.1},
            "tolerations": [{"key": REAL_NODE.0, "operator": "Equal", "value": REAL_NODE.1, "effect": "NoSchedule"}],
            "securityContext": {"runAsNonRoot": true, "runAsUser": 65532, "runAsGroup": 65532, "fsGroup": 65532,
                "seccompProfile": {"type": "RuntimeDefault"}},
        });
        std::fs::write(&path, template.to_string()).unwrap();
        path
    }

    /// Runs tkn with the cluster's kubeconfig; prints what it said.
    fn tkn(&self, args: &[&str]) -> Output {
        let output = Command::new(&self.tkn)
            .args(args)
            .env("KUBECONFIG", &self.kubeconfig)
            .env("NO_COLOR", "1")
            .output()
            .expect("tkn runs");
        eprintln!(
            "$ tkn {} ({})\n{}{}",
            args.join(" "),
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        output
    }

    /// `tkn pipeline start modelops-scoring` as docs/tekton.md shows it, with the pod template and
    /// the config workspace; returns the PipelineRun's name.
    /// The streaming example as the ConfigMap `scoring-inputs` (`ir.tar.gz`), for runs that are
    /// stopped before scoring ends.
    async fn streaming_inputs(&self) {
        let ir_dir = self.dir.path().join("streaming");
        std::fs::create_dir_all(&ir_dir).unwrap();
        std::fs::copy(
            root().join("examples/streaming-recommendations/ir.yaml"),
            ir_dir.join("ir.yaml"),
        )
        .unwrap();
        self.config_map("scoring-inputs", &ir_archive(&ir_dir))
            .await;
    }

    fn start(&self, workspace: &str, extra: &[&str]) -> String {
        let template = self.pod_template();
        let workspace = format!("name=config,config={workspace}");
        let mut args = vec![
            "pipeline",
            "start",
            "modelops-scoring",
            "-n",
            &self.namespace,
            "--serviceaccount",
            SERVICE_ACCOUNT,
            "--pod-template",
            template.to_str().unwrap(),
            "-w",
            &workspace,
            "-p",
            "channels=/workspace/config/channels.yaml",
            "-p",
            "globals=/workspace/config/globals.yaml",
            "-p",
            "log-format=text",
            // The job's scoring pods run on kwok's simulated nodes, where nothing answers the Open
            // Inference Protocol: the Pipeline's validate task is skipped with its parameter
            // (validate against a real model server: tests/real_node.rs).
            "-p",
            "validate=false",
            "--use-param-defaults",
            "-o",
            "name",
        ];
        args.extend_from_slice(extra);
        let output = self.tkn(&args);
        assert!(output.status.success(), "tkn pipeline start failed");
        let name = String::from_utf8(output.stdout).unwrap();
        let name = name.trim().rsplit('/').next().unwrap().to_string();
        assert!(!name.is_empty(), "tkn printed no PipelineRun name");
        name
    }

    /// The config workspace's ConfigMap: the IR as a .tar.gz, the channel registry, the globals.
    async fn config_map(&self, name: &str, ir_archive: &[u8]) {
        let api: Api<ConfigMap> = Api::namespaced(self.client.clone(), &self.namespace);
        let read = |p: &str| std::fs::read_to_string(root().join(p)).unwrap();
        let config_map = json!({
            "metadata": {"name": name},
            "data": {"channels.yaml": read("examples/channels/registry.yaml"), "globals.yaml": read("examples/globals.yaml")},
            "binaryData": {"ir.tar.gz": base64(ir_archive)},
        });
        api.create(
            &PostParams::default(),
            &serde_json::from_value(config_map).unwrap(),
        )
        .await
        .unwrap();
    }

    /// Waits until the PipelineRun is done; returns it.
    async fn finished(&self, run: &str, timeout: Duration) -> Value {
        let api = self.tekton_api("PipelineRun");
        let started = Instant::now();
        loop {
            let object = serde_json::to_value(api.get(run).await.unwrap()).unwrap();
            if let Some(c) = succeeded(&object)
                && c["status"] != "Unknown"
            {
                eprintln!(
                    "PipelineRun {run}: {} {} after {:.0}s: {}",
                    c["status"],
                    c["reason"],
                    started.elapsed().as_secs_f64(),
                    c["message"]
                );
                return object;
            }
            assert!(
                started.elapsed() < timeout,
                "PipelineRun {run} not done after {timeout:?}: {}",
                object["status"]
            );
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }

    /// The TaskRun of one pipeline task (install, wait, finally) of a run, once it exists.
    async fn task_run(&self, run: &str, task: &str, timeout: Duration) -> Value {
        let api = self.tekton_api("TaskRun");
        let labels = format!("tekton.dev/pipelineRun={run},tekton.dev/pipelineTask={task}");
        let started = Instant::now();
        loop {
            let list = api
                .list(&ListParams::default().labels(&labels))
                .await
                .unwrap();
            if let Some(item) = list.items.into_iter().next() {
                return serde_json::to_value(item).unwrap();
            }
            assert!(
                started.elapsed() < timeout,
                "no TaskRun {task} of {run} after {timeout:?}"
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    async fn task_run_done(&self, run: &str, task: &str) -> Value {
        let name = self.task_run(run, task, RUN_TIMEOUT).await["metadata"]["name"]
            .as_str()
            .unwrap()
            .to_string();
        let api = self.tekton_api("TaskRun");
        let started = Instant::now();
        loop {
            let object = serde_json::to_value(api.get(&name).await.unwrap()).unwrap();
            if succeeded(&object).is_some_and(|c| c["status"] != "Unknown") {
                return object;
            }
            assert!(started.elapsed() < RUN_TIMEOUT, "TaskRun {name} not done");
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }

    /// The pod of a pipeline task once its step container runs.
    async fn running_pod(&self, run: &str, task: &str) -> Pod {
        let pods: Api<Pod> = Api::namespaced(self.client.clone(), &self.namespace);
        let labels = format!("tekton.dev/pipelineRun={run},tekton.dev/pipelineTask={task}");
        let started = Instant::now();
        loop {
            let list = pods
                .list(&ListParams::default().labels(&labels))
                .await
                .unwrap();
            if let Some(pod) = list.items.into_iter().find(|p| {
                p.status
                    .as_ref()
                    .and_then(|s| s.container_statuses.as_ref())
                    .is_some_and(|cs| {
                        cs.iter()
                            .any(|c| c.state.as_ref().is_some_and(|s| s.running.is_some()))
                    })
            }) {
                return pod;
            }
            assert!(
                started.elapsed() < RUN_TIMEOUT,
                "the {task} pod of {run} never ran"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// The record's inventory once wait watches the job (finally empties it as it deletes).
    async fn inventory_once_waiting(&self, run: &str) -> Vec<String> {
        let started = Instant::now();
        loop {
            if let Some(record) = self.record(run).await
                && record["task"] == "wait"
            {
                let inventory: Vec<String> =
                    record["inventory"].lines().map(str::to_string).collect();
                assert!(!inventory.is_empty(), "{record:?}");
                return inventory;
            }
            assert!(
                started.elapsed() < RUN_TIMEOUT,
                "wait never started watching"
            );
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }

    /// The job record's data, if the record exists.
    async fn record(&self, job_id: &str) -> Option<BTreeMap<String, String>> {
        let api: Api<ConfigMap> = Api::namespaced(self.client.clone(), &self.namespace);
        api.get_opt(&format!("modelops-job-{job_id}"))
            .await
            .unwrap()
            .map(|cm| cm.data.unwrap_or_default())
    }

    /// Objects of the job still in the namespace: labelled with its id (every kind the chart
    /// renders), and every object of the record's inventory that still exists with its uid.
    async fn leftovers(&self, job_id: &str, inventory: &[String]) -> Vec<String> {
        let mut left = Vec::new();
        let selector = format!("modelops.io/job-id={job_id}");
        for (api_version, kind) in [
            ("v1", "ConfigMap"),
            ("v1", "Service"),
            ("v1", "Secret"),
            ("apps/v1", "Deployment"),
            ("batch/v1", "Job"),
            ("autoscaling/v2", "HorizontalPodAutoscaler"),
            ("v1", "ServiceAccount"),
        ] {
            let api = self
                .api_for(&json!({"apiVersion": api_version, "kind": kind}))
                .await;
            for item in api
                .list(&ListParams::default().labels(&selector))
                .await
                .unwrap()
            {
                left.push(format!("{kind}/{} (labelled)", item.name_any()));
            }
        }
        for line in inventory {
            let parts: Vec<&str> = line.split(' ').collect();
            let [api_version, kind, _namespace, name, uid, ..] = parts[..] else {
                panic!("bad inventory line `{line}`");
            };
            let api = self
                .api_for(&json!({"apiVersion": api_version, "kind": kind}))
                .await;
            if let Some(found) = api.get_opt(name).await.unwrap()
                && (uid == "-" || found.metadata.uid.as_deref() == Some(uid))
            {
                left.push(format!("{kind}/{name} (in the record)"));
            }
        }
        left
    }

    /// The finally TaskRun of `run` succeeded and nothing of the job is left, by label or in
    /// `inventory`; the TaskRun, for more checks.
    async fn finally_removed_everything(&self, run: &str, inventory: &[String]) -> Value {
        let finally = self.task_run_done(run, "finally").await;
        assert_eq!(succeeded(&finally).unwrap()["status"], "True", "{finally}");
        assert_eq!(self.leftovers(run, inventory).await, Vec::<String>::new());
        finally
    }

    async fn cleanup(self) {
        let namespaces: Api<Namespace> = Api::all(self.client.clone());
        let _ = namespaces
            .delete(&self.namespace, &DeleteParams::background())
            .await;
    }
}

fn succeeded(object: &Value) -> Option<&Value> {
    object["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == "Succeeded")
}

fn results(object: &Value) -> BTreeMap<String, String> {
    object["status"]["results"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .map(|r| {
                    let value = match &r["value"] {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    (r["name"].as_str().unwrap().to_string(), value)
                })
                .collect()
        })
        .unwrap_or_default()
}

fn base64(bytes: &[u8]) -> String {
    const TABLE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(TABLE[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// A .tar.gz of an IR directory's files (at the archive's top level).
fn ir_archive(dir: &Path) -> Vec<u8> {
    let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::default(),
    ));
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        let name = path.file_name().unwrap().to_owned();
        builder.append_path_with_name(&path, name).unwrap();
    }
    builder.into_inner().unwrap().finish().unwrap()
}

fn sha256_hex(bytes: &[u8]) -> String {
    let output = Command::new("sha256sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            child.stdin.take().unwrap().write_all(bytes)?;
            child.wait_with_output()
        })
        .unwrap();
    String::from_utf8(output.stdout).unwrap()[..64].to_string()
}

/// `values-digest` of an offline `preprocess` of the same inputs: the install Task also passes
/// its own image (the test cluster's executor image, the Tasks' default) as --executor-image.
fn offline_digest(ir: &Path, job_id: &str, namespace: &str) -> String {
    let spec: Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("testcluster/images/executor.json")).unwrap(),
    )
    .unwrap();
    let output = Command::new(BIN)
        .args(["preprocess", "--ir"])
        .arg(ir)
        .args([
            "--channels",
            "examples/channels/registry.yaml",
            "--globals",
            "examples/globals.yaml",
            "--executor-image",
            spec["reference"].as_str().unwrap(),
            "--job-id",
            job_id,
            "--namespace",
            namespace,
            "--log-format",
            "json",
        ])
        .current_dir(root())
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "preprocess: {stderr}");
    stderr
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find_map(|l| l["values_digest"].as_str().map(str::to_string))
        .unwrap_or_else(|| panic!("no values_digest in {stderr}"))
}

/// A bad IR: the batch example with a flow step naming a model that does not exist.
fn bad_ir(dir: &Path) -> PathBuf {
    let ir = dir.join("bad-ir");
    std::fs::create_dir_all(&ir).unwrap();
    let source = root().join("examples/batch-fraud");
    for file in ["pipeline.yaml", "models.yaml"] {
        std::fs::copy(source.join(file), ir.join(file)).unwrap();
    }
    let flows = std::fs::read_to_string(source.join("flows.yaml")).unwrap();
    let broken = flows.replace("model: legacy-scorecard}", "model: no-such-model}");
    assert_ne!(flows, broken, "examples/batch-fraud/flows.yaml changed");
    std::fs::write(ir.join("flows.yaml"), broken).unwrap();
    ir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Tekton on the real node: scripts/test.sh runs it with MODELOPS_TESTCLUSTER_REAL_NODE=1"]
async fn batch_example_runs_end_to_end_from_a_configmap_workspace() {
    let Some(scene) = Scene::new("batch_configmap").await else {
        return;
    };
    let ir_dir = root().join("examples/batch-fraud");
    let archive = ir_archive(&ir_dir);
    scene.config_map("scoring-inputs", &archive).await;
    let sha = sha256_hex(&archive);
    let started = Instant::now();
    let run = scene.start(
        "scoring-inputs",
        &[
            "-p",
            "ir-url=/workspace/config/ir.tar.gz",
            "-p",
            &format!("ir-sha256={sha}"),
            "-p",
            "timeout=4m",
        ],
    );
    // What install recorded (finally empties the record's inventory as it deletes).
    scene.task_run_done(&run, "install").await;
    let inventory: Vec<String> = scene.record(&run).await.expect("the job record")["inventory"]
        .lines()
        .map(str::to_string)
        .collect();
    assert!(!inventory.is_empty());
    let pipeline_run = scene.finished(&run, RUN_TIMEOUT).await;
    let wall = started.elapsed();
    let condition = succeeded(&pipeline_run).unwrap();
    let logs = scene.tkn(&["pipelinerun", "logs", &run, "-n", &scene.namespace]);
    assert_eq!(condition["status"], "True", "{pipeline_run}");
    let results = results(&pipeline_run);
    eprintln!("results: {results:?}; wall time {wall:?}");
    // The PipelineRun's name is the job id.
    assert_eq!(results["job-id"], run);
    assert_eq!(
        results["values-digest"],
        offline_digest(&ir_dir, &run, &scene.namespace)
    );
    assert_eq!(results["phase"], "Succeeded");
    assert_eq!(results["cleanup-phase"], "Uninstalled");
    let endpoints: Vec<&str> = results["endpoints"].lines().collect();
    assert!(!endpoints.is_empty(), "no endpoints");
    for endpoint in &endpoints {
        assert!(
            endpoint.starts_with("http://")
                && endpoint.contains(&format!(".{}.svc", scene.namespace)),
            "{endpoint}"
        );
    }
    // The executor's progress lines, through tkn.
    let logs = String::from_utf8_lossy(&logs.stdout).into_owned();
    for line in [
        "[install : install]",
        "[wait : wait]",
        "[finally : finally]",
        "installing",
        "scoring succeeded",
    ] {
        assert!(
            logs.contains(line),
            "`{line}` missing from tkn pipelinerun logs:\n{logs}"
        );
    }
    // Every TaskRun pod ran on real-0.
    let pods: Api<Pod> = Api::namespaced(scene.client.clone(), &scene.namespace);
    let task_pods = pods
        .list(&ListParams::default().labels(&format!("tekton.dev/pipelineRun={run}")))
        .await
        .unwrap()
        .items;
    assert_eq!(task_pods.len(), 3, "install, wait and finally pods");
    for pod in &task_pods {
        assert_eq!(
            pod.spec.as_ref().and_then(|s| s.node_name.as_deref()),
            Some("real-0"),
            "{}",
            pod.name_any()
        );
    }
    // Nothing of the job is left; the record says so.
    let record = scene.record(&run).await.expect("the job record");
    assert_eq!(record["phase"], "Uninstalled", "{record:?}");
    assert_eq!(
        scene.leftovers(&run, &inventory).await,
        Vec::<String>::new()
    );
    scene.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Tekton on the real node: scripts/test.sh runs it with MODELOPS_TESTCLUSTER_REAL_NODE=1"]
async fn batch_example_runs_from_an_ir_url_served_in_the_cluster() {
    let Some(scene) = Scene::new("batch_ir_url").await else {
        return;
    };
    let archive = ir_archive(&root().join("examples/batch-fraud"));
    scene.config_map("scoring-inputs", &archive).await;
    // An HTTP server pod (busybox httpd on real-0) serving the archive, behind a Service.
    let pods: Api<Pod> = Api::namespaced(scene.client.clone(), &scene.namespace);
    let server: Pod = serde_json::from_value(json!({
        "metadata": {"name": "ir-server", "labels": {"app": "ir-server"}},
        "spec": {
            "nodeSelector": {REAL_NODE.0: REAL_NODE.1},
            "tolerations": [{"key": REAL_NODE.0, "operator": "Exists", "effect": "NoSchedule"}],
            "automountServiceAccountToken": false,
            "containers": [{"name": "httpd", "image": "docker.io/modelops-test/busybox:1", "imagePullPolicy": "Never",
                "command": ["/bin/busybox", "httpd", "-f", "-v", "-p", "8080", "-h", "/srv"],
                "ports": [{"containerPort": 8080}],
                "readinessProbe": {"tcpSocket": {"port": 8080}, "periodSeconds": 1},
                "volumeMounts": [{"name": "ir", "mountPath": "/srv"}]}],
            "volumes": [{"name": "ir", "configMap": {"name": "scoring-inputs", "items": [{"key": "ir.tar.gz", "path": "ir.tar.gz"}]}}],
        }
    }))
    .unwrap();
    pods.create(&PostParams::default(), &server).await.unwrap();
    scene
        .apply_file(&{
            let path = scene.dir.path().join("service.json");
            std::fs::write(
                &path,
                json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "ir-server"},
                    "spec": {"selector": {"app": "ir-server"}, "ports": [{"port": 8080}]}})
                .to_string(),
            )
            .unwrap();
            path
        })
        .await;
    let url = format!("http://ir-server.{}.svc:8080/ir.tar.gz", scene.namespace);
    let sha = sha256_hex(&archive);
    let run = scene.start(
        "scoring-inputs",
        &[
            "-p",
            &format!("ir-url={url}"),
            "-p",
            &format!("ir-sha256={sha}"),
            "-p",
            "timeout=4m",
        ],
    );
    let pipeline_run = scene.finished(&run, RUN_TIMEOUT).await;
    let results = results(&pipeline_run);
    assert_eq!(
        succeeded(&pipeline_run).unwrap()["status"],
        "True",
        "{pipeline_run}"
    );
    assert_eq!(results["phase"], "Succeeded", "{results:?}");
    assert_eq!(results["cleanup-phase"], "Uninstalled", "{results:?}");
    // install downloaded it from the server (its access log names the archive).
    let log = pods
        .logs("ir-server", &Default::default())
        .await
        .unwrap_or_default();
    eprintln!("ir-server log:\n{log}");
    scene.cleanup().await;
}

/// Watches the pods of one pipeline task and returns the exit code its step container reported
/// (a cancelled pod is deleted: the kubelet reports the exit before the pod is gone).
async fn step_exit_code(client: Client, namespace: String, run: String, task: &str) -> Option<i32> {
    let pods: Api<Pod> = Api::namespaced(client, &namespace);
    let config = watcher::Config::default().labels(&format!(
        "tekton.dev/pipelineRun={run},tekton.dev/pipelineTask={task}"
    ));
    let mut stream = watcher::watcher(pods, config).boxed();
    let deadline = tokio::time::Instant::now() + RUN_TIMEOUT;
    while let Ok(Some(event)) = tokio::time::timeout_at(deadline, stream.next()).await {
        let pods = match event {
            Ok(
                watcher::Event::Apply(pod)
                | watcher::Event::InitApply(pod)
                | watcher::Event::Delete(pod),
            ) => vec![pod],
            _ => continue,
        };
        for pod in pods {
            let code = pod
                .status
                .and_then(|s| s.container_statuses)
                .unwrap_or_default()
                .into_iter()
                .filter(|c| c.name.starts_with("step-"))
                .find_map(|c| c.state.and_then(|s| s.terminated).map(|t| t.exit_code));
            if code.is_some() {
                return code;
            }
        }
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Tekton on the real node: scripts/test.sh runs it with MODELOPS_TESTCLUSTER_REAL_NODE=1"]
async fn streaming_run_cancelled_with_cancelled_run_finally_runs_finally() {
    cancel_a_streaming_run("streaming_cancel", |scene, run| {
        scene.tkn(&[
            "pipelinerun",
            "cancel",
            run,
            "-n",
            &scene.namespace,
            "--grace",
            "CancelledRunFinally",
        ])
    })
    .await;
}

/// `modelops-executor cancel --job-id` (issue 12 item 4) knows only the job id (the run's name,
/// the Pipeline's default job id): it finds the PipelineRun in the job record and cancels it the
/// same graceful way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Tekton on the real node: scripts/test.sh runs it with MODELOPS_TESTCLUSTER_REAL_NODE=1"]
async fn cancel_by_job_id_sends_the_running_pipeline_run_to_finally() {
    cancel_a_streaming_run("cancel_by_job_id", |scene, job_id| {
        let output = scene
            .command(&[
                "cancel",
                "--job-id",
                job_id,
                "--namespace",
                &scene.namespace,
            ])
            .output()
            .unwrap();
        eprintln!(
            "$ modelops-executor cancel --job-id {job_id}\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        output
    })
    .await;
}

/// Starts the streaming example, cancels its run with `cancel` once wait runs, and checks that
/// wait recorded Cancelled and exited 143, finally ran and nothing of the job is left.
async fn cancel_a_streaming_run(test: &str, cancel: impl FnOnce(&Scene, &str) -> Output) {
    let Some(scene) = Scene::new(test).await else {
        return;
    };
    scene.streaming_inputs().await;
    let run = scene.start(
        "scoring-inputs",
        &[
            "-p",
            "ir-url=/workspace/config/ir.tar.gz",
            "-p",
            "timeout=30m",
        ],
    );
    let exit_code = tokio::spawn(step_exit_code(
        scene.client.clone(),
        scene.namespace.clone(),
        run.clone(),
        "wait",
    ));
    let inventory = scene.inventory_once_waiting(&run).await;
    // Watch the record: wait must record Cancelled before finally marks it Uninstalled.
    let phases = {
        let client = scene.client.clone();
        let namespace = scene.namespace.clone();
        let name = format!("modelops-job-{run}");
        tokio::spawn(async move {
            let api: Api<ConfigMap> = Api::namespaced(client, &namespace);
            let mut seen: Vec<String> = Vec::new();
            let started = Instant::now();
            while started.elapsed() < RUN_TIMEOUT {
                if let Some(cm) = api.get_opt(&name).await.unwrap() {
                    let data = cm.data.unwrap_or_default();
                    let phase = format!("{}/{}", data["task"], data["phase"]);
                    if seen.last() != Some(&phase) {
                        seen.push(phase.clone());
                    }
                    if phase == "finally/Uninstalled" {
                        break;
                    }
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            seen
        })
    };
    let cancelled = cancel(&scene, &run);
    assert!(cancelled.status.success());
    let pipeline_run = scene.finished(&run, RUN_TIMEOUT).await;
    let condition = succeeded(&pipeline_run).unwrap();
    assert_eq!(condition["status"], "False", "{pipeline_run}");
    assert_eq!(condition["reason"], "Cancelled", "{pipeline_run}");
    assert_eq!(exit_code.await.unwrap(), Some(143), "wait's exit code");
    let phases = phases.await.unwrap();
    eprintln!("record phases: {phases:?}");
    assert!(phases.contains(&"wait/Cancelled".to_string()), "{phases:?}");
    assert_eq!(
        phases.last().map(String::as_str),
        Some("finally/Uninstalled")
    );
    scene.finally_removed_everything(&run, &inventory).await;
    scene.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Tekton on the real node: scripts/test.sh runs it with MODELOPS_TESTCLUSTER_REAL_NODE=1"]
async fn tasks_timeout_shorter_than_the_job_still_runs_finally() {
    let Some(scene) = Scene::new("tasks_timeout").await else {
        return;
    };
    scene.streaming_inputs().await;
    // The job would run 30 minutes; the tasks get 60 s, finally its own 5 minutes (what
    // docs/tekton.md "Timeouts" asks for).
    let run = scene.start(
        "scoring-inputs",
        &[
            "-p",
            "ir-url=/workspace/config/ir.tar.gz",
            "-p",
            "timeout=30m",
            "--pipeline-timeout",
            "10m",
            "--tasks-timeout",
            "60s",
            "--finally-timeout",
            "5m",
        ],
    );
    let inventory = scene.inventory_once_waiting(&run).await;
    let pipeline_run = scene.finished(&run, RUN_TIMEOUT).await;
    let condition = succeeded(&pipeline_run).unwrap();
    assert_eq!(condition["status"], "False", "{pipeline_run}");
    let wait = scene.task_run_done(&run, "wait").await;
    eprintln!("wait TaskRun: {}", succeeded(&wait).unwrap());
    assert_eq!(succeeded(&wait).unwrap()["status"], "False", "{wait}");
    scene.finally_removed_everything(&run, &inventory).await;
    let record = scene.record(&run).await.expect("the job record");
    assert_eq!(record["phase"], "Uninstalled", "{record:?}");
    scene.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Tekton on the real node: scripts/test.sh runs it with MODELOPS_TESTCLUSTER_REAL_NODE=1"]
async fn install_pod_deleted_mid_install_fails_the_run_and_finally_removes_everything() {
    let Some(scene) = Scene::new("install_pod_deleted").await else {
        return;
    };
    scene
        .config_map(
            "scoring-inputs",
            &ir_archive(&root().join("examples/batch-fraud")),
        )
        .await;
    // The PMML scoring service asks for a node that does not exist, so install is still waiting
    // for it (its unschedulable grace is long) when its pod goes: a quiet machine installs the
    // rest in about a second, faster than a deletion that merely races it.
    let affinity = "scoring-service-pmml.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0]";
    let install_args = format!(
        "install-args=--set={affinity}.key=modelops.test/absent,--set={affinity}.operator=Exists"
    );
    let run = scene.start(
        "scoring-inputs",
        &[
            "-p",
            "ir-url=/workspace/config/ir.tar.gz",
            "-p",
            "unschedulable-grace=10m",
            "-p",
            &install_args,
        ],
    );
    let pod = scene.running_pod(&run, "install").await;
    let started = Instant::now();
    while scene
        .record(&run)
        .await
        .is_none_or(|r| r["inventory"].is_empty())
    {
        assert!(
            started.elapsed() < RUN_TIMEOUT,
            "install never recorded its plan"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let pods: Api<Pod> = Api::namespaced(scene.client.clone(), &scene.namespace);
    pods.delete(&pod.name_any(), &DeleteParams::default())
        .await
        .unwrap();
    let inventory: Vec<String> = scene.record(&run).await.unwrap()["inventory"]
        .lines()
        .map(str::to_string)
        .collect();
    let pipeline_run = scene.finished(&run, RUN_TIMEOUT).await;
    assert_eq!(
        succeeded(&pipeline_run).unwrap()["status"],
        "False",
        "{pipeline_run}"
    );
    let install = scene.task_run_done(&run, "install").await;
    assert_eq!(succeeded(&install).unwrap()["status"], "False", "{install}");
    // Every object: by label, and every one the record planned (install writes its whole plan
    // before applying; objects not applied yet are checked by name).
    scene.finally_removed_everything(&run, &inventory).await;
    let record = scene.record(&run).await.expect("the job record");
    assert_eq!(record["phase"], "Uninstalled", "{record:?}");
    scene.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Tekton on the real node: scripts/test.sh runs it with MODELOPS_TESTCLUSTER_REAL_NODE=1"]
async fn a_bad_ir_fails_install_with_exit_2_and_its_error_result() {
    let Some(scene) = Scene::new("bad_ir").await else {
        return;
    };
    let ir = bad_ir(scene.dir.path());
    scene.config_map("scoring-inputs", &ir_archive(&ir)).await;
    let run = scene.start(
        "scoring-inputs",
        &["-p", "ir-url=/workspace/config/ir.tar.gz"],
    );
    let exit_code = tokio::spawn(step_exit_code(
        scene.client.clone(),
        scene.namespace.clone(),
        run.clone(),
        "install",
    ));
    let pipeline_run = scene.finished(&run, RUN_TIMEOUT).await;
    assert_eq!(
        succeeded(&pipeline_run).unwrap()["status"],
        "False",
        "{pipeline_run}"
    );
    assert_eq!(exit_code.await.unwrap(), Some(2), "install's exit code");
    let install = scene.task_run_done(&run, "install").await;
    let error = results(&install).get("error").cloned().unwrap_or_default();
    eprintln!("install error result: {error}");
    assert!(!error.contains('\n'), "{error}");
    assert!(error.contains("no-such-model"), "{error}");
    let finally = scene.finally_removed_everything(&run, &[]).await;
    assert_eq!(results(&finally)["phase"], "Uninstalled");
    scene.cleanup().await;
}
