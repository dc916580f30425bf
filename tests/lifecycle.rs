//! The scoring job lifecycle against the real local control plane (issue 4): the real binary runs
//! install, wait, status and finally; the kube client only sets the scene and checks the result.
//!
//! Gated like tests/testcluster.rs on `MODELOPS_TEST_KUBECONFIG`: skipped (visibly) without it,
//! a failure when `CI` is set. Every test works in its own namespace and job id.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod, Secret};
use kube::api::{
    Api, DeleteParams, DynamicObject, GroupVersionKind, ListParams, Patch, PatchParams,
};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Config, ResourceExt};
use serde_json::json;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

#[macro_use]
mod common;
use common::{Stage, root};
const JOB_LABEL: &str = "modelops.io/job-id";

/// One test's world: its place on the cluster ([`Stage`]: client, namespace, job id, the binary
/// pointed at the cluster) and a directory for Tekton results.
struct Scene {
    stage: Stage,
    results: tempfile::TempDir,
}

scene_on_stage!(Scene);

impl Scene {
    async fn new(test: &str) -> Option<Scene> {
        let mut stage = Stage::new(test, "lc", 30).await?;
        stage.stand_in_credentials = true;
        let scene = Scene {
            stage,
            results: tempfile::tempdir().unwrap(),
        };
        // The data channel registry lives in the cluster, as install expects by default.
        common::register_channels(&scene.client, "datachannels", "lifecycle-test")
            .await
            .unwrap();
        common::ensure_windows_node(&scene.client, "lifecycle-test")
            .await
            .unwrap();
        Some(scene)
    }

    fn install_args<'a>(&'a self, ir: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
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
            "--timeout",
            "90s",
        ];
        args.extend_from_slice(extra);
        args
    }

    /// The object name of a scoring flow of this job (names include the job, docs/design-choices.md, Job id).
    fn flow(&self, pipeline: &str, flow: &str) -> String {
        modelops_executor::preprocess::scoring_flow_name(pipeline, flow, &self.job_id)
    }

    /// The object name of a scoring service of this job.
    fn service(&self, pipeline: &str, runtime: &str) -> String {
        modelops_executor::preprocess::service_name(pipeline, runtime, &self.job_id)
    }

    fn job_ref(&self) -> [&str; 4] {
        ["--job-id", &self.job_id, "--namespace", &self.namespace]
    }

    fn result(&self, name: &str) -> String {
        std::fs::read_to_string(self.results.path().join(name)).unwrap_or_default()
    }

    async fn labelled<K>(&self) -> Vec<K>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
            + Clone
            + serde::de::DeserializeOwned
            + std::fmt::Debug,
    {
        let api: Api<K> = Api::namespaced(self.client.clone(), &self.namespace);
        api.list(&ListParams::default().labels(&format!("{JOB_LABEL}={}", self.job_id)))
            .await
            .unwrap()
            .items
    }

    /// Every object of the job that install applies (bar Services and HPAs), by kind/name →
    /// resourceVersion.
    async fn versions(&self) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        for item in self.labelled::<ConfigMap>().await {
            out.insert(
                format!("configmap/{}", item.name_any()),
                item.resource_version().unwrap(),
            );
        }
        for item in self.labelled::<Deployment>().await {
            out.insert(
                format!("deployment/{}", item.name_any()),
                item.resource_version().unwrap(),
            );
        }
        for item in self.labelled::<Job>().await {
            out.insert(
                format!("job/{}", item.name_any()),
                item.resource_version().unwrap(),
            );
        }
        // The job-owned artifact credentials (--artifact-credentials from-env).
        for item in self.labelled::<Secret>().await {
            out.insert(
                format!("secret/{}", item.name_any()),
                item.resource_version().unwrap(),
            );
        }
        out
    }

    /// What install may have written to every object it wrote or could have written, by `kind/name`
    /// (`written_state`):
    /// every object in the job's namespace of every kind the API server lists there (found by
    /// discovery, so no kind the chart renders is left out) except those a controller created
    /// (with an owner: ReplicaSets, Pods) and Events, plus the namespace itself.
    async fn all_versions(&self) -> BTreeMap<String, String> {
        let discovery = kube::discovery::Discovery::new(self.client.clone())
            .run()
            .await
            .unwrap();
        let mut out = BTreeMap::new();
        for group in discovery.groups() {
            for (resource, capabilities) in group.recommended_resources() {
                if capabilities.scope != kube::discovery::Scope::Namespaced
                    || !capabilities.supports_operation(kube::discovery::verbs::LIST)
                    || ["Event", "Endpoints"].contains(&resource.kind.as_str())
                {
                    continue;
                }
                let api: Api<DynamicObject> =
                    Api::namespaced_with(self.client.clone(), &self.namespace, &resource);
                for item in api.list_metadata(&ListParams::default()).await.unwrap() {
                    if !item.owner_references().is_empty() {
                        continue;
                    }
                    out.insert(
                        format!("{}/{}", resource.kind.to_ascii_lowercase(), item.name_any()),
                        written_state(&item.metadata),
                    );
                }
            }
        }
        let namespaces: Api<Namespace> = Api::all(self.client.clone());
        let namespace = namespaces.get(&self.namespace).await.unwrap();
        out.insert(
            format!("namespace/{}", self.namespace),
            namespace.resource_version().unwrap(),
        );
        out
    }

    /// Creates a namespace with server-side apply, owned by `manager`.
    async fn create_namespace(&self, name: &str, manager: &str) {
        let namespaces: Api<Namespace> = Api::all(self.client.clone());
        let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}});
        namespaces
            .patch(name, &PatchParams::apply(manager), &Patch::Apply(&ns))
            .await
            .unwrap();
    }

    /// Versions once the controllers have stopped updating status (pods ready, replicas counted).
    async fn settled_versions(&self) -> BTreeMap<String, String> {
        let started = Instant::now();
        let mut previous = self.versions().await;
        loop {
            tokio::time::sleep(Duration::from_secs(2)).await;
            let current = self.versions().await;
            if current == previous {
                return current;
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "objects never settled"
            );
            previous = current;
        }
    }

    async fn remaining(&self) -> Vec<String> {
        let mut names: Vec<String> = self.versions().await.into_keys().collect();
        names.extend(
            self.labelled::<k8s_openapi::api::core::v1::Service>()
                .await
                .iter()
                .map(|s| format!("service/{}", s.name_any())),
        );
        names.extend(
            self.labelled::<HorizontalPodAutoscaler>()
                .await
                .iter()
                .map(|s| format!("hpa/{}", s.name_any())),
        );
        names
    }

    async fn record(&self) -> Option<BTreeMap<String, String>> {
        let api: Api<ConfigMap> = Api::namespaced(self.client.clone(), &self.namespace);
        api.get_opt(&format!("modelops-job-{}", self.job_id))
            .await
            .unwrap()
            .map(|cm| cm.data.unwrap_or_default())
    }

    /// The record's inventory: `apiVersion kind namespace|- name uid|- [applied]` lines.
    async fn inventory(&self) -> Vec<String> {
        let record = self.record().await.expect("job record");
        record["inventory"].lines().map(str::to_string).collect()
    }

    /// Inventory objects that still exist: with the recorded uid, or under the name at all when
    /// no uid was recorded yet (an install killed before it could record it).
    async fn still_there(&self, inventory: &[String]) -> Vec<String> {
        let mut out = Vec::new();
        for line in inventory {
            let parts: Vec<&str> = line.split(' ').collect();
            let [api_version, kind, namespace, name, uid, ..] = parts[..] else {
                panic!("bad inventory line `{line}`");
            };
            let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
            let gvk = GroupVersionKind::gvk(group, version, kind);
            let (resource, _) = kube::discovery::pinned_kind(&self.client, &gvk)
                .await
                .unwrap();
            let api: Api<DynamicObject> = if namespace == "-" {
                Api::all_with(self.client.clone(), &resource)
            } else {
                Api::namespaced_with(self.client.clone(), namespace, &resource)
            };
            let found = api.get_opt(name).await.unwrap();
            if found.is_some_and(|o| uid == "-" || o.metadata.uid.as_deref() == Some(uid)) {
                out.push(format!("{}/{name}", kind.to_ascii_lowercase()));
            }
        }
        out
    }

    /// Server-side applies the ConfigMap `modelops-globals` with exactly these data keys (keys
    /// set by an earlier call and not given now are removed: same field manager).
    async fn put_globals(&self, namespace: &str, data: &[(&str, &str)]) {
        let data: serde_json::Map<String, serde_json::Value> = data
            .iter()
            .map(|(k, v)| (k.to_string(), json!(v)))
            .collect();
        let config_map = json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "modelops-globals", "namespace": namespace},
            "data": data,
        });
        let api: Api<ConfigMap> = Api::namespaced(self.client.clone(), namespace);
        api.patch(
            "modelops-globals",
            &PatchParams::apply("platform-admin").force(),
            &Patch::Apply(&config_map),
        )
        .await
        .unwrap();
    }

    /// A copy of the kubeconfig whose context names `namespace`: what the executor's own
    /// namespace is outside a pod (in a pod it is the service account's namespace).
    fn kubeconfig_in(&self, namespace: &str, dir: &Path) -> PathBuf {
        let text = std::fs::read_to_string(&self.kubeconfig).unwrap();
        let mut config: serde_json::Value = serde_norway::from_str(&text).unwrap();
        for context in config["contexts"].as_array_mut().unwrap() {
            context["context"]["namespace"] = json!(namespace);
        }
        let path = dir.join("kubeconfig");
        std::fs::write(&path, serde_norway::to_string(&config).unwrap()).unwrap();
        path
    }

    /// `install` of the batch example without `--globals`: the caller adds the globals flags.
    fn globals_install_args<'a>(&'a self, extra: &[&'a str]) -> Vec<&'a str> {
        let mut args = vec![
            "install",
            "--ir",
            "examples/batch-fraud",
            "--chart",
            "charts/modelops",
            "--namespace",
            &self.namespace,
            "--job-id",
            &self.job_id,
            "--timeout",
            "90s",
        ];
        args.extend_from_slice(extra);
        args
    }

    /// The values digest `preprocess` computes offline from the same IR and registry with these
    /// flags: what install must record when its globals amount to the same.
    fn offline_digest(&self, extra: &[&str]) -> String {
        let mut args = vec![
            "preprocess",
            "--ir",
            "examples/batch-fraud",
            "--channels",
            "examples/channels",
            "--namespace",
            &self.namespace,
            "--job-id",
            &self.job_id,
        ];
        args.extend_from_slice(extra);
        let output = self.run(&args);
        assert!(output.status.success(), "{}", stderr(&output));
        modelops_executor::digest::sha256_hex(&output.stdout)
    }

    /// Per scoring service Deployment and batch flow Job: pull secrets, every container image,
    /// and the main container's env and CPU request.
    async fn pod_settings(&self) -> Vec<PodSettings> {
        let mut out = Vec::new();
        let templates = self
            .labelled::<Deployment>()
            .await
            .into_iter()
            .map(|d| {
                (
                    format!("deployment/{}", d.name_any()),
                    d.spec.unwrap().template,
                )
            })
            .chain(
                self.labelled::<Job>()
                    .await
                    .into_iter()
                    .map(|j| (format!("job/{}", j.name_any()), j.spec.unwrap().template)),
            );
        for (name, template) in templates {
            let spec = template.spec.unwrap();
            let main = &spec.containers[0];
            out.push(PodSettings {
                name,
                pull_secrets: spec
                    .image_pull_secrets
                    .unwrap_or_default()
                    .into_iter()
                    .map(|s| s.name)
                    .collect(),
                images: spec
                    .init_containers
                    .iter()
                    .flatten()
                    .chain(&spec.containers)
                    .map(|c| c.image.clone().unwrap_or_default())
                    .collect(),
                env: main
                    .env
                    .iter()
                    .flatten()
                    .map(|e| (e.name.clone(), e.value.clone().unwrap_or_default()))
                    .collect(),
                cpu_request: main
                    .resources
                    .as_ref()
                    .and_then(|r| r.requests.as_ref())
                    .and_then(|r| r.get("cpu"))
                    .map(|q| q.0.clone())
                    .unwrap_or_default(),
            });
        }
        assert!(!out.is_empty(), "no workloads of job {}", self.job_id);
        out
    }

    async fn cleanup(self) {
        let finally = self.run(&[
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

/// What the globals decide in a workload's pod template.
#[derive(Debug)]
struct PodSettings {
    name: String,
    pull_secrets: Vec<String>,
    images: Vec<String>,
    env: BTreeMap<String, String>,
    cpu_request: String,
}

impl PodSettings {
    /// A batch flow's Job (the rest are scoring-service Deployments).
    fn is_flow(&self) -> bool {
        self.name.starts_with("job/")
    }

    /// Every image without a registry of its own comes from `registry`: all but the runtime
    /// table's published model servers (docs/runtimes.md), which name theirs.
    fn assert_images_from(&self, registry: &str) {
        let prefix = format!("{registry}/");
        const PUBLISHED: [&str; 2] = [
            "docker.io/seldonio/mlserver:",
            "nvcr.io/nvidia/tritonserver:",
        ];
        let platform: Vec<&String> = self
            .images
            .iter()
            .filter(|i| !PUBLISHED.iter().any(|p| i.starts_with(p)))
            .collect();
        assert!(
            !platform.is_empty(),
            "{}: no platform image in {:?}",
            self.name,
            self.images
        );
        assert!(
            platform.iter().all(|i| i.starts_with(&prefix)),
            "{}: {:?} not all from {registry}",
            self.name,
            self.images
        );
    }
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// A copy of an IR with one file replaced, for "changed inputs".
fn ir_variant(from: &str, file: &str, edit: impl Fn(String) -> String) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(root().join(from)).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let name = path.file_name().unwrap();
        let text = if Path::new(name) == Path::new(file) {
            edit(text)
        } else {
            text
        };
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_lifecycle_install_wait_status_finally() {
    let Some(scene) = Scene::new("batch_lifecycle").await else {
        return;
    };
    let results = scene.results.path().display().to_string();
    let install =
        scene.run(&scene.install_args("examples/batch-fraud", &["--results-dir", &results]));
    assert!(
        install.status.success(),
        "install failed:\n{}",
        stderr(&install)
    );
    assert_eq!(
        String::from_utf8_lossy(&install.stdout).trim(),
        scene.job_id
    );
    assert_eq!(scene.result("job-id"), scene.job_id);
    assert_eq!(scene.result("values-digest").len(), 64);
    assert_eq!(scene.result("phase"), "Installed");
    assert!(scene.result("endpoints").contains(&format!(
        "http://{}.{}.svc:8080",
        scene.service("fraud-detection", "pmml"),
        scene.namespace
    )));
    let record = scene.record().await.expect("job record");
    assert_eq!(record["phase"], "Installed");
    assert_eq!(
        record["inventory"].lines().count(),
        scene.remaining().await.len(),
        "inventory lists every object"
    );
    for job in scene.labelled::<Job>().await {
        assert!(
            job.spec
                .unwrap()
                .template
                .metadata
                .unwrap()
                .labels
                .unwrap()
                .contains_key(JOB_LABEL)
        );
    }

    let wait = scene.run(
        &[
            &["wait", "--timeout", "90s", "--results-dir", &results][..],
            &scene.job_ref(),
        ]
        .concat(),
    );
    assert!(wait.status.success(), "wait failed:\n{}", stderr(&wait));
    assert_eq!(scene.result("phase"), "Succeeded");
    for job in scene.labelled::<Job>().await {
        let completions = job.spec.as_ref().and_then(|s| s.completions);
        assert_eq!(
            job.status.as_ref().and_then(|s| s.succeeded),
            completions,
            "{} did not complete",
            job.name_any()
        );
    }

    let status = scene.run(&[&["status", "-o", "json"][..], &scene.job_ref()].concat());
    let status: serde_json::Value = serde_json::from_slice(&status.stdout).expect("status -o json");
    assert_eq!(status["phase"], "Succeeded");
    assert_eq!(status["task"], "wait");
    assert!(
        status["objects"]
            .as_array()
            .unwrap()
            .iter()
            .all(|o| o["state"] == "Ready"),
        "{status:#}"
    );
    let jobs = scene.run(&["jobs", "--namespace", &scene.namespace]);
    assert!(String::from_utf8_lossy(&jobs.stdout).contains(&scene.job_id));

    // The default cascade is background: finally returns once every recorded object (this
    // uid) is gone, like `helm uninstall --wait`; the pods are left to the garbage collector.
    let inventory = scene.inventory().await;
    assert!(
        inventory.iter().all(|line| !line.ends_with(" -")),
        "every applied object has its uid recorded: {inventory:?}"
    );
    assert!(
        inventory
            .iter()
            .any(|line| line.starts_with("batch/v1 Job ")),
        "{inventory:?}"
    );
    assert_eq!(scene.still_there(&inventory).await.len(), inventory.len());
    let finally = scene.run(
        &[
            &["finally", "--results-dir", &results][..],
            &scene.job_ref(),
        ]
        .concat(),
    );
    assert!(
        finally.status.success(),
        "finally failed:\n{}",
        stderr(&finally)
    );
    assert_eq!(scene.still_there(&inventory).await, Vec::<String>::new());
    assert_eq!(scene.remaining().await, Vec::<String>::new());
    assert!(stderr(&finally).contains("garbage collector"));
    let record = scene.record().await.unwrap();
    assert_eq!(record["phase"], "Uninstalled");
    assert_eq!(record["inventory"], "");
    assert_eq!(scene.result("phase"), "Uninstalled");
    // Safe to run twice.
    let again = scene.run(&[&["finally"][..], &scene.job_ref()].concat());
    assert!(
        again.status.success(),
        "second finally failed:\n{}",
        stderr(&again)
    );
    scene.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streaming_wait_ends_on_sigterm_then_finally() {
    let Some(scene) = Scene::new("streaming_sigterm").await else {
        return;
    };
    let install = scene.run(&scene.install_args("examples/streaming-recommendations", &[]));
    assert!(
        install.status.success(),
        "install failed:\n{}",
        stderr(&install)
    );
    let mut wait = scene
        .command(&[&["wait"][..], &scene.job_ref()].concat())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Let it reach its watch loop, then cancel as Tekton does.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        wait.try_wait().unwrap().is_none(),
        "streaming wait ended by itself"
    );
    let signalled = Instant::now();
    let _ = Command::new("kill")
        .args(["-TERM", &wait.id().to_string()])
        .status();
    let status = loop {
        if let Some(status) = wait.try_wait().unwrap() {
            break status;
        }
        assert!(
            signalled.elapsed() < Duration::from_secs(2),
            "wait did not exit within 2 s of SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(status.code(), Some(143));
    assert_eq!(scene.record().await.unwrap()["phase"], "Cancelled");
    let finally = scene.run(&[&["finally"][..], &scene.job_ref()].concat());
    assert!(finally.status.success(), "{}", stderr(&finally));
    assert!(scene.remaining().await.is_empty());
    scene.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reinstall_is_a_no_op_and_changes_update_and_prune() {
    let Some(scene) = Scene::new("reinstall_update_prune").await else {
        return;
    };
    let install = scene.run(&scene.install_args("examples/streaming-recommendations", &[]));
    assert!(install.status.success(), "{}", stderr(&install));
    let before = scene.settled_versions().await;
    assert!(before.len() >= 5, "{before:?}");
    let every_before = scene.all_versions().await;
    let record = format!("configmap/modelops-job-{}", scene.job_id);
    assert!(every_before.contains_key(&record), "{every_before:?}");
    for kind in [
        "service/",
        "horizontalpodautoscaler/",
        "deployment/",
        "configmap/",
    ] {
        assert!(
            every_before.keys().any(|k| k.starts_with(kind)),
            "no {kind} in {every_before:?}"
        );
    }

    let again = scene.run(&scene.install_args("examples/streaming-recommendations", &[]));
    assert!(again.status.success(), "{}", stderr(&again));
    assert_eq!(
        scene.all_versions().await,
        every_before,
        "re-running with the same inputs wrote to objects (or the job record)"
    );

    // Drop the R model: its scoring service must be pruned; the flow changes in place.
    let variant = ir_variant("examples/streaming-recommendations", "ir.yaml", |text| {
        text.replace("    - {name: affinity, model: basket-affinity}\n", "")
            .replace("replicas: 3", "replicas: 2")
    });
    let changed = scene.run(&scene.install_args(&variant.path().display().to_string(), &[]));
    assert!(changed.status.success(), "{}", stderr(&changed));
    let after = scene.versions().await;
    let r_service = scene.service("recommendations", "r");
    let flow_config = format!(
        "configmap/{}-config",
        scene.flow("recommendations", "rank-products")
    );
    assert!(
        !after.contains_key(&format!("deployment/{r_service}")),
        "{after:?}"
    );
    assert!(
        !after.contains_key(&format!("configmap/{r_service}-models")),
        "{after:?}"
    );
    assert_ne!(after[&flow_config], before[&flow_config]);
    let autoscalers: Api<HorizontalPodAutoscaler> =
        Api::namespaced(scene.client.clone(), &scene.namespace);
    let flow_hpa = autoscalers
        .get(&format!(
            "scoringflow-{}",
            scene.flow("recommendations", "rank-products")
        ))
        .await
        .unwrap();
    assert_eq!(
        flow_hpa.spec.min_replicas,
        Some(2),
        "the flow's replicas changed in place"
    );
    let record = scene.record().await.unwrap();
    assert!(
        !record["inventory"].contains(&format!("{r_service} ")),
        "pruned objects stay in the inventory"
    );
    scene.cleanup().await;
}

/// A re-install sends no apply for an object it proves unchanged (`cluster::unchanged`), and still
/// applies one whose fields another writer changed: here a key of the flow's ConfigMap that an
/// update (as `kubectl edit` makes) removed, which the re-install puts back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reinstall_applies_only_what_changed_and_restores_a_removed_field() {
    let Some(scene) = Scene::new("reinstall_skip").await else {
        return;
    };
    let args = scene.install_args(
        "examples/streaming-recommendations",
        &["--log-format", "json"],
    );
    let install = scene.run(&args);
    assert!(install.status.success(), "{}", stderr(&install));
    let (objects, unchanged) = applied_counts(&install);
    assert!(objects >= 5 && unchanged == 0, "{objects} {unchanged}");

    let config_maps: Api<ConfigMap> = Api::namespaced(scene.client.clone(), &scene.namespace);
    let name = &format!("{}-config", scene.flow("recommendations", "rank-products"));
    let data = config_maps.get(name).await.unwrap().data.unwrap();
    let (key, value) = data.iter().next().unwrap();
    let removal = PatchParams {
        field_manager: Some("ops-console".into()),
        ..PatchParams::default()
    };
    config_maps
        .patch(name, &removal, &Patch::Merge(json!({"data": {key: null}})))
        .await
        .unwrap();
    assert!(
        !config_maps
            .get(name)
            .await
            .unwrap()
            .data
            .unwrap_or_default()
            .contains_key(key)
    );

    let again = scene.run(&args);
    assert!(again.status.success(), "{}", stderr(&again));
    assert_eq!(
        applied_counts(&again),
        (objects, objects - 1),
        "only the edited ConfigMap is applied again"
    );
    assert_eq!(
        config_maps
            .get(name)
            .await
            .unwrap()
            .data
            .unwrap_or_default()
            .get(key),
        Some(value),
        "the removed key was not restored"
    );
    let third = scene.run(&args);
    assert!(third.status.success(), "{}", stderr(&third));
    assert_eq!(applied_counts(&third), (objects, objects));
    scene.cleanup().await;
}

/// The objects of every wave install logged as applied, and how many of them were unchanged.
fn applied_counts(output: &Output) -> (u64, u64) {
    let mut counts = (0, 0);
    for line in String::from_utf8_lossy(&output.stderr).lines() {
        let Ok(event) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        if event["message"] == "applied" {
            counts.0 += event["objects"].as_u64().unwrap();
            counts.1 += event["unchanged"].as_u64().unwrap();
        }
    }
    counts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refuses_to_touch_an_object_it_does_not_own() {
    let Some(scene) = Scene::new("refuses_unmanaged").await else {
        return;
    };
    scene
        .create_namespace(&scene.namespace, "someone-else")
        .await;
    let config_maps: Api<ConfigMap> = Api::namespaced(scene.client.clone(), &scene.namespace);
    let name = format!("{}-config", scene.flow("recommendations", "rank-products"));
    let theirs = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"owner": "them"}});
    config_maps
        .patch(
            &name,
            &PatchParams::apply("someone-else"),
            &Patch::Apply(&theirs),
        )
        .await
        .unwrap();

    let install = scene.run(&scene.install_args("examples/streaming-recommendations", &[]));
    assert_eq!(install.status.code(), Some(2), "{}", stderr(&install));
    let message = stderr(&install);
    assert!(
        message.contains(&format!("configmap/{name}"))
            && message.contains("not managed by modelops-executor"),
        "{message}"
    );
    assert!(
        scene.record().await.is_none(),
        "a job record was written although nothing may be applied"
    );
    assert!(scene.remaining().await.is_empty(), "objects were applied");
    assert_eq!(
        config_maps.get(&name).await.unwrap().data.unwrap()["owner"],
        "them"
    );
    scene.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn install_killed_mid_apply_is_cleaned_up_by_finally() {
    let Some(scene) = Scene::new("killed_mid_apply").await else {
        return;
    };
    // Scoring service pods take 60 s to become ready, so install is stuck between waves.
    let mut install = scene
        .command(&scene.install_args(
            "examples/streaming-recommendations",
            &[
                "--set",
                "scoring-service-r.podAnnotations.modelops\\.io/test-ready-delay=60s",
            ],
        ))
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    loop {
        let deployments = scene.labelled::<Deployment>().await;
        if !deployments.is_empty() {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "install applied nothing in 30 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    install.kill().unwrap();
    install.wait().unwrap();
    assert_eq!(
        scene.record().await.unwrap()["phase"],
        "Installing",
        "the crash left the record mid-install"
    );
    assert!(!scene.remaining().await.is_empty());

    let inventory = scene.inventory().await;
    let finally = scene.run(&[&["finally"][..], &scene.job_ref()].concat());
    assert!(finally.status.success(), "{}", stderr(&finally));
    assert_eq!(scene.still_there(&inventory).await, Vec::<String>::new());
    assert!(
        scene.remaining().await.is_empty(),
        "{:?}",
        scene.remaining().await
    );
    scene.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finally_with_foreground_cascade_returns_after_the_pods_are_gone() {
    let Some(scene) = Scene::new("foreground_cascade").await else {
        return;
    };
    let install = scene.run(&scene.install_args("examples/batch-fraud", &[]));
    assert!(install.status.success(), "{}", stderr(&install));
    let wait = scene.run(&[&["wait", "--timeout", "90s"][..], &scene.job_ref()].concat());
    assert!(wait.status.success(), "{}", stderr(&wait));
    let pods = scene.labelled::<Pod>().await;
    assert!(
        pods.iter().any(|p| p.labels().contains_key("job-name")),
        "the completed flow Jobs keep their pods until deleted: {:?}",
        pods.iter().map(|p| p.name_any()).collect::<Vec<_>>()
    );
    let inventory = scene.inventory().await;

    let finally = scene
        .command(&[&["finally"][..], &scene.job_ref()].concat())
        .env("MODELOPS_CASCADE", "foreground")
        .output()
        .unwrap();
    assert!(finally.status.success(), "{}", stderr(&finally));
    assert!(
        stderr(&finally).contains("Foreground"),
        "{}",
        stderr(&finally)
    );
    assert_eq!(scene.still_there(&inventory).await, Vec::<String>::new());
    assert_eq!(scene.remaining().await, Vec::<String>::new());
    let pods = scene.labelled::<Pod>().await;
    assert!(
        pods.is_empty(),
        "pods of the job remain: {:?}",
        pods.iter().map(|p| p.name_any()).collect::<Vec<_>>()
    );
    assert_eq!(scene.record().await.unwrap()["phase"], "Uninstalled");
    scene.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_scoring_service_pod_fails_wait_within_seconds() {
    let Some(scene) = Scene::new("failing_service").await else {
        return;
    };
    let install = scene.run(&scene.install_args("examples/streaming-recommendations", &[]));
    assert!(install.status.success(), "{}", stderr(&install));
    let pods: Api<Pod> = Api::namespaced(scene.client.clone(), &scene.namespace);
    let service_pod = scene
        .labelled::<Pod>()
        .await
        .into_iter()
        .find(|p| {
            p.labels()
                .get("app.kubernetes.io/component")
                .map(String::as_str)
                == Some("scoring-service")
        })
        .expect("a scoring service pod");
    let results = scene.results.path().display().to_string();
    let mut wait = scene
        .command(&[&["wait", "--results-dir", &results][..], &scene.job_ref()].concat())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let annotate = json!({"metadata": {"annotations": {"modelops.io/test-fail": "failed", "modelops.io/test-exit-code": "3"}}});
    pods.patch(
        &service_pod.name_any(),
        &PatchParams::default(),
        &Patch::Merge(&annotate),
    )
    .await
    .unwrap();
    let failed_at = Instant::now();
    let status = loop {
        if let Some(status) = wait.try_wait().unwrap() {
            break status;
        }
        assert!(
            failed_at.elapsed() < Duration::from_secs(20),
            "wait did not notice the failed pod"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let mut message = String::new();
    std::io::Read::read_to_string(wait.stderr.as_mut().unwrap(), &mut message).unwrap();
    assert_eq!(status.code(), Some(1), "{message}");
    assert!(
        message.contains(&service_pod.name_any()) && message.contains("exit code 3"),
        "{message}"
    );
    assert!(
        scene.result("error").contains("scoring failed"),
        "{}",
        scene.result("error")
    );
    assert_eq!(scene.result("phase"), "Failed");
    let record = scene.record().await.unwrap();
    assert_eq!(record["phase"], "Failed");
    assert!(record["lastError"].contains(&service_pod.name_any()));
    scene.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deadline_gives_exit_4() {
    let Some(scene) = Scene::new("deadline").await else {
        return;
    };
    // The flow pods take an hour to complete: wait's deadline comes first.
    let install = scene.run(&scene.install_args(
        "examples/batch-fraud",
        &[
            "--set",
            "scoring-flow.podAnnotations.modelops\\.io/test-complete-delay=1h",
        ],
    ));
    assert!(install.status.success(), "{}", stderr(&install));
    let wait = scene.run(&[&["wait", "--timeout", "3s"][..], &scene.job_ref()].concat());
    assert_eq!(wait.status.code(), Some(4), "{}", stderr(&wait));
    assert!(
        stderr(&wait).contains("deadline of 3s exceeded while waiting for: job/"),
        "{}",
        stderr(&wait)
    );
    scene.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_server_applies_nothing() {
    let Some(scene) = Scene::new("dry_run").await else {
        return;
    };
    scene
        .create_namespace(&scene.namespace, "lifecycle-test")
        .await;
    let install = scene.run(&scene.install_args("examples/batch-fraud", &["--dry-run=server"]));
    assert!(install.status.success(), "{}", stderr(&install));
    assert!(stderr(&install).contains("dry run: the API server accepted the wave"));
    assert!(scene.remaining().await.is_empty());
    assert!(scene.record().await.is_none());
    // And nothing installed: finally is still fine.
    scene.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_apply_conflict_names_the_other_field_manager() {
    let Some(scene) = Scene::new("apply_conflict").await else {
        return;
    };
    let install = scene.run(&scene.install_args("examples/streaming-recommendations", &[]));
    assert!(install.status.success(), "{}", stderr(&install));
    // Someone takes over a field the chart sets, with their own field manager.
    let config_maps: Api<ConfigMap> = Api::namespaced(scene.client.clone(), &scene.namespace);
    let name = &format!("{}-config", scene.flow("recommendations", "rank-products"));
    let key = config_maps
        .get(name)
        .await
        .unwrap()
        .data
        .unwrap()
        .into_keys()
        .next()
        .unwrap();
    let theirs = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {key.clone(): "edited by hand"}});
    config_maps
        .patch(
            name,
            &PatchParams::apply("ops-console").force(),
            &Patch::Apply(&theirs),
        )
        .await
        .unwrap();

    let again = scene.run(&scene.install_args("examples/streaming-recommendations", &[]));
    assert_eq!(again.status.code(), Some(3), "{}", stderr(&again));
    let message = stderr(&again);
    assert!(
        message.contains(&format!(
            "configmap/{name}: apply conflicts with field manager `ops-console`"
        )),
        "{message}"
    );
    assert_eq!(
        config_maps.get(name).await.unwrap().data.unwrap()[&key],
        "edited by hand",
        "the other manager's value was overwritten"
    );
    assert_eq!(scene.record().await.unwrap()["phase"], "Failed");
    scene.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_batch_flow_replaces_its_immutable_job() {
    let Some(scene) = Scene::new("batch_replace").await else {
        return;
    };
    let install = scene.run(&scene.install_args("examples/batch-fraud", &[]));
    assert!(install.status.success(), "{}", stderr(&install));
    let jobs: Api<Job> = Api::namespaced(scene.client.clone(), &scene.namespace);
    let name = &scene.flow("fraud-detection", "score-transactions");
    let before = jobs.get(name).await.unwrap().uid().unwrap();
    // A new threshold changes the flow's configuration and so its pod template's checksum.
    // A server-side dry run reports the replacement and leaves the Job alone.
    let dry_run = scene.run(&scene.install_args(
        "examples/batch-fraud",
        &["--param", "threshold=0.99", "--dry-run=server"],
    ));
    assert!(dry_run.status.success(), "{}", stderr(&dry_run));
    assert!(
        stderr(&dry_run).contains("install would replace the Job"),
        "{}",
        stderr(&dry_run)
    );
    assert_eq!(jobs.get(name).await.unwrap().uid().unwrap(), before);
    let changed =
        scene.run(&scene.install_args("examples/batch-fraud", &["--param", "threshold=0.99"]));
    assert!(changed.status.success(), "{}", stderr(&changed));
    assert!(
        stderr(&changed).contains("replacing the Job"),
        "{}",
        stderr(&changed)
    );
    let after = jobs.get(name).await.unwrap();
    assert_ne!(after.uid().unwrap(), before, "the Job was not replaced");
    assert_eq!(scene.record().await.unwrap()["phase"], "Installed");
    scene.cleanup().await;
}

/// The platform's globals in the ConfigMap `modelops-globals` of the executor's namespace (here:
/// the kubeconfig context's, no flag): they reach the applied objects and the values digest,
/// exactly as the same settings in a `--globals FILE` would; a changed ConfigMap changes the
/// digest and updates the objects; nothing of its content is logged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn globals_from_the_config_map_reach_the_objects_and_the_values_digest() {
    let Some(scene) = Scene::new("globals_configmap").await else {
        return;
    };
    // The test's own namespace stands for the executor's: other tests run concurrently, so
    // nothing goes into `default`.
    scene
        .create_namespace(&scene.namespace, "lifecycle-test")
        .await;
    let platform = "\
registry:
  host: cm-registry.example.com
  imagePullSecrets: [cm-pull]
gitServer:
  url: https://git.cm.example.com
  configRepo: cm-config
resources:
  scoringService:
    requests: {cpu: 300m, memory: 300Mi}
trace:
  enabled: false
platformToken: cm-s3cr3t-marker
";
    scene
        .put_globals(&scene.namespace, &[("globals.yaml", platform)])
        .await;
    let tmp = tempfile::tempdir().unwrap();
    let kubeconfig = scene.kubeconfig_in(&scene.namespace, tmp.path());
    let results = scene.results.path().display().to_string();
    let install = |extra: &[&str]| {
        let mut args = scene.globals_install_args(&["--results-dir", &results, "-v"]);
        args.extend_from_slice(extra);
        let output = scene
            .command(&args)
            .env("KUBECONFIG", &kubeconfig)
            .output()
            .unwrap();
        eprintln!(
            "$ modelops-executor {}\n{}",
            args.join(" "),
            stderr(&output)
        );
        output
    };

    let first = install(&[]);
    assert!(first.status.success(), "{}", stderr(&first));
    let log = stderr(&first);
    assert!(
        log.contains(&format!(
            "ConfigMap {}/modelops-globals, key globals.yaml",
            scene.namespace
        )) && log.contains("platform globals read"),
        "install does not say where its globals came from:\n{log}"
    );
    assert!(
        !log.contains("cm-s3cr3t-marker") && !log.contains("cm-registry.example.com"),
        "the ConfigMap's content reached the log:\n{log}"
    );
    let settings = scene.pod_settings().await;
    for pod in &settings {
        assert_eq!(pod.pull_secrets, ["cm-pull"], "{}", pod.name);
        pod.assert_images_from("cm-registry.example.com");
        if pod.is_flow() {
            assert_eq!(pod.env["GIT_SERVER_URL"], "https://git.cm.example.com");
            assert_eq!(pod.env["GIT_CONFIG_REPO"], "cm-config");
        } else {
            assert_eq!(pod.cpu_request, "300m", "{}", pod.name);
        }
    }
    assert!(settings.iter().any(PodSettings::is_flow));

    // The values are exactly those of the same settings given as a file, digest included.
    let file = tmp.path().join("same-as-configmap.yaml");
    std::fs::write(&file, platform).unwrap();
    let digest = scene.result("values-digest");
    assert_eq!(
        digest,
        scene.offline_digest(&["--globals", file.to_str().unwrap()])
    );
    assert_eq!(scene.record().await.unwrap()["valuesDigest"], digest);
    assert_ne!(
        digest,
        scene.offline_digest(&[]),
        "the globals changed nothing"
    );

    // A changed ConfigMap is a changed job: new digest, objects updated in place.
    let changed = platform.replace("cm-registry.example.com", "cm2-registry.example.com");
    scene
        .put_globals(&scene.namespace, &[("globals.yaml", &changed)])
        .await;
    let second = install(&[]);
    assert!(second.status.success(), "{}", stderr(&second));
    let second_digest = scene.result("values-digest");
    assert_ne!(second_digest, digest);
    assert_eq!(scene.record().await.unwrap()["valuesDigest"], second_digest);
    for pod in scene.pod_settings().await {
        pod.assert_images_from("cm2-registry.example.com");
    }
    scene.cleanup().await;
}

/// Precedence: chart defaults < the ConfigMap < `--globals FILE` (key by key) < `--set`; and
/// `--globals-configmap=false` leaves the ConfigMap out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_globals_file_overrides_the_config_map_key_by_key_and_set_wins() {
    let Some(scene) = Scene::new("globals_precedence").await else {
        return;
    };
    scene
        .create_namespace(&scene.namespace, "lifecycle-test")
        .await;
    scene
        .put_globals(
            &scene.namespace,
            &[(
                "globals.yaml",
                "registry: {host: cm-registry.example.com, imagePullSecrets: [cm-pull]}\n\
                 gitServer: {url: https://git.cm.example.com, configRepo: cm-config}\n",
            )],
        )
        .await;
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("globals.yaml");
    std::fs::write(
        &file,
        "registry: {host: file-registry.example.com}\ngitServer: {url: https://git.file.example.com}\n",
    )
    .unwrap();
    let file = file.to_str().unwrap();
    let results = scene.results.path().display().to_string();
    let flags = |extra: &[&'static str]| {
        let mut args = vec![
            "--globals-namespace",
            scene.namespace.as_str(),
            "--globals",
            file,
            "--set",
            "global.gitServer.configRepo=set-config",
            "--results-dir",
            results.as_str(),
        ];
        args.extend_from_slice(extra);
        args
    };

    // Switched off, only the file counts: the digest is the offline one with the file alone.
    // (A server-side dry run, before anything exists: it needs no Job replaced.)
    let without = scene.run(
        &scene.globals_install_args(&flags(&["--globals-configmap=false", "--dry-run=server"])),
    );
    assert!(without.status.success(), "{}", stderr(&without));
    assert!(stderr(&without).contains("not reading ConfigMap modelops-globals"));
    let file_only = scene.result("values-digest");
    assert_eq!(
        file_only,
        scene.offline_digest(&[
            "--globals",
            file,
            "--set",
            "global.gitServer.configRepo=set-config"
        ])
    );

    let install = scene.run(&scene.globals_install_args(&flags(&[])));
    assert!(install.status.success(), "{}", stderr(&install));
    assert_ne!(scene.result("values-digest"), file_only);
    let settings = scene.pod_settings().await;
    for pod in &settings {
        // The file's host wins; the ConfigMap's pull secrets, which the file does not set, stay.
        assert_eq!(pod.pull_secrets, ["cm-pull"], "{}", pod.name);
        pod.assert_images_from("file-registry.example.com");
        if pod.is_flow() {
            // The file's url wins over the ConfigMap's; --set wins over the ConfigMap's repo.
            assert_eq!(pod.env["GIT_SERVER_URL"], "https://git.file.example.com");
            assert_eq!(pod.env["GIT_CONFIG_REPO"], "set-config");
        }
    }
    assert!(settings.iter().any(PodSettings::is_flow));
    scene.cleanup().await;
}

/// A malformed ConfigMap is bad input: exit 2, an error naming the ConfigMap, its key and the
/// place or field, none of its content, and nothing written to the cluster.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_globals_config_map_is_bad_input_and_nothing_is_applied() {
    let Some(scene) = Scene::new("globals_malformed").await else {
        return;
    };
    scene
        .create_namespace(&scene.namespace, "lifecycle-test")
        .await;
    let ns = scene.namespace.clone();
    let cases: [(&[(&str, &str)], String); 3] = [
        (
            &[(
                "globals.yaml",
                "registry:\n  host: r.example.com\n token: cm-s3cr3t-marker\n",
            )],
            format!(
                "ConfigMap {ns}/modelops-globals, key globals.yaml: invalid YAML: line 3, column 2"
            ),
        ),
        (
            &[(
                "globals.yaml",
                "registry: {imagePullSecrets: cm-s3cr3t-marker}\n",
            )],
            format!(
                "ConfigMap {ns}/modelops-globals, key globals.yaml: registry.imagePullSecrets: must be a list of Secret names, found a string"
            ),
        ),
        (
            &[("globals.yml", "registry: {host: r.example.com}\n")],
            format!(
                "ConfigMap {ns}/modelops-globals: data.globals.yml: unknown key (did you mean `globals.yaml`?)"
            ),
        ),
    ];
    let results = scene.results.path().display().to_string();
    for (data, wanted) in cases {
        scene.put_globals(&ns, data).await;
        let install = scene.run(&scene.globals_install_args(&[
            "--globals-namespace",
            &ns,
            "--results-dir",
            &results,
        ]));
        let message = stderr(&install);
        assert_eq!(install.status.code(), Some(2), "{message}");
        assert!(message.contains(&wanted), "lacks `{wanted}`:\n{message}");
        assert!(!message.contains("cm-s3cr3t-marker"), "{message}");
        assert!(scene.result("error").contains("modelops-globals"));
        assert!(scene.record().await.is_none(), "a job record was written");
        assert!(
            scene.remaining().await.is_empty(),
            "objects were applied: {:?}",
            scene.remaining().await
        );
    }
    scene.cleanup().await;
}

/// Two jobs of one pipeline in one namespace (two PipelineRuns of the same Pipeline): their
/// objects have different names (the job is part of every name), so both install, complete and
/// uninstall independently, and `finally` of one leaves every object of the other alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_jobs_of_one_pipeline_in_one_namespace_are_independent() {
    let Some(first) = Scene::new("two_jobs_one_pipeline").await else {
        return;
    };
    let second = Scene {
        stage: Stage {
            job_id: format!("{}-second", first.job_id),
            ..first.stage.clone()
        },
        results: tempfile::tempdir().unwrap(),
    };
    for scene in [&first, &second] {
        let install = scene.run(&scene.install_args("examples/batch-fraud", &[]));
        assert!(
            install.status.success(),
            "install of {} failed:\n{}",
            scene.job_id,
            stderr(&install)
        );
    }
    let first_objects = first.remaining().await;
    let second_objects = second.remaining().await;
    assert!(first_objects.len() >= 10, "{first_objects:?}");
    assert_eq!(first_objects.len(), second_objects.len());
    assert!(
        first_objects.iter().all(|o| !second_objects.contains(o)),
        "the jobs share objects: {first_objects:?} / {second_objects:?}"
    );
    for scene in [&first, &second] {
        let wait = scene.run(&[&["wait", "--timeout", "90s"][..], &scene.job_ref()].concat());
        assert!(
            wait.status.success(),
            "wait of {}: {}",
            scene.job_id,
            stderr(&wait)
        );
        assert_eq!(scene.record().await.unwrap()["phase"], "Succeeded");
    }

    let second_inventory = second.inventory().await;
    let finally = first.run(&[&["finally"][..], &first.job_ref()].concat());
    assert!(finally.status.success(), "{}", stderr(&finally));
    assert_eq!(first.remaining().await, Vec::<String>::new());
    assert_eq!(
        second.still_there(&second_inventory).await.len(),
        second_inventory.len(),
        "finally of {} deleted objects of {}",
        first.job_id,
        second.job_id
    );
    assert_eq!(second.record().await.unwrap()["phase"], "Succeeded");

    let finally = second.run(&[&["finally"][..], &second.job_ref()].concat());
    assert!(finally.status.success(), "{}", stderr(&finally));
    assert_eq!(second.remaining().await, Vec::<String>::new());
    first.cleanup().await;
}

/// A streaming job's deadline is its planned end: Succeeded only if every object is healthy
/// then. Flows that never became ready make it Failed (exit 1) with the reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_streaming_deadline_succeeds_only_when_every_object_is_healthy() {
    let Some(scene) = Scene::new("streaming_deadline_health").await else {
        return;
    };
    let results = scene.results.path().display().to_string();
    // The flow pods never become ready within the deadline; the scoring services do.
    let install = scene.run(&scene.install_args(
        "examples/streaming-recommendations",
        &[
            "--set",
            "scoring-flow.podAnnotations.modelops\\.io/test-ready-delay=1h",
        ],
    ));
    assert!(install.status.success(), "{}", stderr(&install));
    let wait = scene.run(
        &[
            &["wait", "--timeout", "6s", "--results-dir", &results][..],
            &scene.job_ref(),
        ]
        .concat(),
    );
    let message = stderr(&wait);
    assert_eq!(wait.status.code(), Some(1), "{message}");
    let flow = format!(
        "deployment/{}",
        scene.flow("recommendations", "rank-products")
    );
    assert!(
        message.contains("not healthy at the deadline (6s)") && message.contains(&flow),
        "{message}"
    );
    assert_eq!(scene.result("phase"), "Failed");
    assert!(
        scene.result("error").contains(&flow),
        "{}",
        scene.result("error")
    );
    assert_eq!(scene.record().await.unwrap()["phase"], "Failed");

    // The same job with flows that become ready: healthy at the deadline, Succeeded.
    let install = scene.run(&scene.install_args("examples/streaming-recommendations", &[]));
    assert!(install.status.success(), "{}", stderr(&install));
    let wait = scene.run(
        &[
            &["wait", "--timeout", "10s", "--results-dir", &results][..],
            &scene.job_ref(),
        ]
        .concat(),
    );
    assert_eq!(wait.status.code(), Some(0), "{}", stderr(&wait));
    assert_eq!(scene.result("phase"), "Succeeded");
    assert_eq!(scene.record().await.unwrap()["phase"], "Succeeded");
    scene.cleanup().await;
}

/// A chart with a CRD and resources of it (tests/charts/crd-and-cr): install applies the CRD
/// wave, awaits Established, refreshes discovery, and only then preflights and applies the
/// resources. A server-side dry run checks what it can and names what it cannot.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chart_with_a_crd_and_its_resources_installs() {
    let Some(scene) = Scene::new("crd_and_cr").await else {
        return;
    };
    // CRDs are cluster-scoped: a group of this run's own.
    let group = format!("w{}.test.modelops.io", common::unique_suffix());
    let set_group = format!("group={group}");
    let install = |extra: &[&str]| {
        let mut args = vec![
            "install",
            "--ir",
            "examples/batch-fraud",
            "--chart",
            "tests/charts/crd-and-cr",
            "--globals",
            "examples/globals.yaml",
            "--namespace",
            &scene.namespace,
            "--create-namespace",
            "--job-id",
            &scene.job_id,
            "--timeout",
            "60s",
            "--set",
            &set_group,
        ];
        args.extend_from_slice(extra);
        scene.run(&args)
    };
    let widget = format!("widget/{}-widget", scene.job_id);
    let crds: Api<k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition> =
        Api::all(scene.client.clone());
    let crd_name = format!("widgets.{group}");

    let dry_run = install(&["--dry-run=server"]);
    assert!(dry_run.status.success(), "{}", stderr(&dry_run));
    assert!(
        stderr(&dry_run).contains("not checked by the API server")
            && stderr(&dry_run).contains(&widget),
        "{}",
        stderr(&dry_run)
    );
    assert!(
        crds.get_opt(&crd_name).await.unwrap().is_none(),
        "the dry run created the CRD"
    );

    // The namespace did not exist: the dry run said the Secret could not be checked either.
    assert!(
        stderr(&dry_run).contains("their namespace does not exist yet"),
        "{}",
        stderr(&dry_run)
    );

    let first = install(&[]);
    assert!(first.status.success(), "{}", stderr(&first));
    // The CRD, the widget and the job's artifact credentials Secret (from-env).
    let inventory = scene.inventory().await;
    assert_eq!(inventory.len(), 3, "{inventory:?}");
    assert_eq!(
        scene.still_there(&inventory).await.len(),
        3,
        "{inventory:?}"
    );
    assert_eq!(scene.record().await.unwrap()["phase"], "Installed");

    // Now the CRD exists: a dry run checks the resource too, and a re-install changes nothing.
    let dry_run = install(&["--dry-run=server"]);
    assert!(dry_run.status.success(), "{}", stderr(&dry_run));
    assert!(
        !stderr(&dry_run).contains("not checked by the API server"),
        "{}",
        stderr(&dry_run)
    );
    let again = install(&[]);
    assert!(again.status.success(), "{}", stderr(&again));

    let finally = scene.run(&[&["finally"][..], &scene.job_ref()].concat());
    assert!(finally.status.success(), "{}", stderr(&finally));
    // The CRD is gone, and with it every Widget (the kind is no longer served).
    assert!(crds.get_opt(&crd_name).await.unwrap().is_none());
    assert_eq!(scene.record().await.unwrap()["phase"], "Uninstalled");
    scene.cleanup().await;
}

/// The inventory of 100,000 objects goes to compressed shards (issue 12): written, read back
/// whole, shrunk (old shards deleted), an orphaned shard cleaned up, and `finally` works from
/// such a record although none of its objects exist.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_thousand_object_inventory_is_sharded_and_finally_cleans_up() {
    use modelops_executor::cluster::Cluster;
    use modelops_executor::cluster::record::{self, InventoryEntry, JobRecord};
    use modelops_executor::k8s::ObjectRef;
    let Some(scene) = Scene::new("sharded_record").await else {
        return;
    };
    scene
        .create_namespace(&scene.namespace, "lifecycle-test")
        .await;
    let config = Config::from_custom_kubeconfig(
        Kubeconfig::read_from(&scene.kubeconfig).unwrap(),
        &KubeConfigOptions::default(),
    )
    .await
    .unwrap();
    let cluster = Cluster::from_config(config).unwrap();
    let mut written = JobRecord::new(&scene.job_id, &scene.namespace, "p", "batch", "d");
    for i in 0..100_000u64 {
        written.inventory.push(InventoryEntry {
            object: ObjectRef {
                api_version: "v1".into(),
                kind: "ConfigMap".into(),
                namespace: Some(scene.namespace.clone()),
                name: format!("flow-{i:06}-config"),
            },
            uid: Some(format!(
                "{:08x}-0000-4000-8000-{:012x}",
                i * 7919,
                i * 104_729
            )),
            applied: Some(format!("{:032x}", i.wrapping_mul(0x9e37_79b9_7f4a_7c15))),
        });
    }
    written.inventory.sort();
    record::write(&cluster, &mut written).await.unwrap();
    let shards = || async {
        let api: Api<ConfigMap> = Api::namespaced(scene.client.clone(), &scene.namespace);
        let mut names: Vec<String> = api
            .list(&ListParams::default().labels(&format!(
                "{}={}",
                record::LABEL_JOB_RECORD_SHARD,
                scene.job_id
            )))
            .await
            .unwrap()
            .items
            .iter()
            .map(|cm| cm.name_any())
            .collect();
        names.sort();
        names
    };
    let first = shards().await;
    assert!(first.len() >= 2, "{first:?}");
    let raw = scene.record().await.unwrap();
    assert!(!raw.contains_key("inventory"), "{raw:?}");
    assert_eq!(raw["inventoryShards"].lines().count(), first.len());

    let read = record::read(&cluster, &scene.namespace, &scene.job_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(read.inventory, written.inventory);

    // Shrunk: new shards, the old ones deleted.
    written.inventory.truncate(60_000);
    record::write(&cluster, &mut written).await.unwrap();
    let second = shards().await;
    assert!(
        !second.is_empty() && second.len() < first.len(),
        "{second:?}"
    );
    let read = record::read(&cluster, &scene.namespace, &scene.job_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(read.inventory.len(), 60_000);

    // A shard written by a writer that stopped before the record referred to it.
    let orphan = format!("modelops-job-{}-inventory-0123456789abcdef", scene.job_id);
    let api: Api<ConfigMap> = Api::namespaced(scene.client.clone(), &scene.namespace);
    let body = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": orphan,
        "labels": {record::LABEL_JOB_RECORD_SHARD: scene.job_id,
                   "app.kubernetes.io/managed-by": "modelops-executor"}}});
    api.patch(
        &orphan,
        &PatchParams::apply("lifecycle-test"),
        &Patch::Apply(&body),
    )
    .await
    .unwrap();

    let finally = scene.run(&[&["finally"][..], &scene.job_ref()].concat());
    assert!(finally.status.success(), "{}", stderr(&finally));
    let record = scene.record().await.unwrap();
    assert_eq!(record["phase"], "Uninstalled");
    assert_eq!(record["inventory"], "");
    assert!(!record.contains_key("inventoryShards"), "{record:?}");
    assert_eq!(shards().await, Vec::<String>::new(), "shards left behind");
    scene.cleanup().await;
}

/// Records of finished jobs are kept for a bounded time and number: `jobs --prune`, install and
/// finally of later jobs remove them; a record whose job may still have objects stays; `jobs`
/// lists newest first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finished_job_records_are_pruned_and_jobs_lists_newest_first() {
    use modelops_executor::cluster::record::{JobRecord, Phase};
    let Some(scene) = Scene::new("record_retention").await else {
        return;
    };
    scene
        .create_namespace(&scene.namespace, "lifecycle-test")
        .await;
    let config_maps: Api<ConfigMap> = Api::namespaced(scene.client.clone(), &scene.namespace);
    let ago = |hours: i64| {
        (jiff::Timestamp::now() - jiff::SignedDuration::from_hours(hours))
            .round(jiff::Unit::Second)
            .unwrap()
            .to_string()
    };
    let put = |job: &'static str, phase: Phase, hours: i64| {
        let mut record = JobRecord::new(job, &scene.namespace, "fraud-detection", "batch", "d");
        record.phase = phase;
        record.created_at = ago(hours);
        record.updated_at = ago(hours);
        let config_maps = config_maps.clone();
        async move {
            config_maps
                .patch(
                    &record.name(),
                    &PatchParams::apply("lifecycle-test"),
                    &Patch::Apply(&record.to_config_map()),
                )
                .await
                .unwrap();
        }
    };
    let exists = |job: &str| {
        let config_maps = config_maps.clone();
        let name = format!("modelops-job-{job}");
        async move { config_maps.get_opt(&name).await.unwrap().is_some() }
    };
    put("old-1", Phase::Uninstalled, 240).await;
    put("old-but-installed", Phase::Succeeded, 250).await;
    put("recent-1", Phase::Uninstalled, 1).await;
    put("recent-2", Phase::Uninstalled, 2).await;
    put("recent-3", Phase::Uninstalled, 3).await;

    let jobs = scene.run(&[
        "jobs",
        "--namespace",
        &scene.namespace,
        "--prune",
        "--max-finished-records",
        "2",
        "-o",
        "json",
    ]);
    assert!(jobs.status.success(), "{}", stderr(&jobs));
    let listed: serde_json::Value = serde_json::from_slice(&jobs.stdout).unwrap();
    let ids: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["jobId"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["recent-1", "recent-2", "old-but-installed"]);

    // install and finally of a later job prune with the defaults (7 days, 100 records).
    put("old-2", Phase::Uninstalled, 200).await;
    let install = scene.run(&scene.install_args("examples/batch-fraud", &[]));
    assert!(install.status.success(), "{}", stderr(&install));
    assert!(
        !exists("old-2").await,
        "install did not prune the old record"
    );
    assert!(exists("recent-2").await && exists("old-but-installed").await);
    put("old-3", Phase::Uninstalled, 200).await;
    let finally = scene.run(&[&["finally"][..], &scene.job_ref()].concat());
    assert!(finally.status.success(), "{}", stderr(&finally));
    assert!(
        !exists("old-3").await,
        "finally did not prune the old record"
    );
    assert_eq!(scene.record().await.unwrap()["phase"], "Uninstalled");
    assert!(exists("recent-1").await && exists("old-but-installed").await);
    scene.cleanup().await;
}

/// What a write by the executor would change on an object. For objects with a spec (a
/// `generation`), controllers keep updating the status (a Deployment's replicas as kwok's pods
/// progress, later under load), which moves the resourceVersion without any write of ours, so there
/// it is the generation plus the executor's own managedFields entries (their `time` moves with every
/// change it applies); for the others, the resourceVersion.
fn written_state(meta: &kube::api::ObjectMeta) -> String {
    match meta.generation {
        None => meta.resource_version.clone().unwrap(),
        Some(generation) => {
            let ours: Vec<String> = meta
                .managed_fields
                .iter()
                .flatten()
                .filter(|entry| entry.manager.as_deref() == Some("modelops-executor"))
                .map(|entry| format!("{:?}@{:?}", entry.subresource, entry.time))
                .collect();
            format!("generation {generation}, ours {ours:?}")
        }
    }
}

/// `--artifact-credentials reference` (the default): the Secret the values name is checked before
/// anything is applied — missing, or without the keys the job's stores need, is bad input (exit 2)
/// naming the field and the Secret, and nothing is written; present, the job installs and the
/// Secret, which is not the job's, outlives finally.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_referenced_credentials_secret_is_checked_before_anything_is_applied() {
    let Some(scene) = Scene::new("credentials_reference").await else {
        return;
    };
    let install = |scene: &Scene| {
        let args = scene.install_args("examples/batch-fraud", &[]);
        let mut command = scene.command(&args);
        command.env("MODELOPS_ARTIFACT_CREDENTIALS", "reference");
        let output = command.output().expect("the binary runs");
        eprintln!("$ install (reference)\n{}", stderr(&output));
        output
    };
    let missing = install(&scene);
    let err = stderr(&missing);
    assert_eq!(missing.status.code(), Some(2), "{err}");
    assert!(
        err.contains("global.artifacts.credentialsSecret")
            && err.contains(&format!(
                "Secret {}/modelops-artifact-credentials does not exist",
                scene.namespace
            ))
            && err.contains("S3")
            && err.contains("Google Cloud Storage"),
        "{err}"
    );
    assert!(scene.record().await.is_none(), "no job record written");
    let namespaces: Api<Namespace> = Api::all(scene.client.clone());
    assert!(
        namespaces
            .get_opt(&scene.namespace)
            .await
            .unwrap()
            .is_none(),
        "nothing applied, not even the namespace"
    );

    // A Secret without the S3 secret key: named, with what S3 needs.
    scene
        .create_namespace(&scene.namespace, "lifecycle-test")
        .await;
    let secrets: Api<Secret> = Api::namespaced(scene.client.clone(), &scene.namespace);
    let partial = json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "modelops-artifact-credentials"},
        "stringData": {"AWS_ACCESS_KEY_ID": "id", "GOOGLE_SERVICE_ACCOUNT_KEY": "{}"},
    });
    secrets
        .patch(
            "modelops-artifact-credentials",
            &PatchParams::apply("lifecycle-test").force(),
            &Patch::Apply(&partial),
        )
        .await
        .unwrap();
    let incomplete = install(&scene);
    let err = stderr(&incomplete);
    assert_eq!(incomplete.status.code(), Some(2), "{err}");
    assert!(
        err.contains("S3 needs AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
            && err.contains("model(s) fraud-gbm, merchant-risk")
            && !err.contains("Google Cloud Storage needs"),
        "{err}"
    );
    assert!(scene.remaining().await.is_empty(), "nothing applied");

    common::provide_artifact_credentials(&scene.client, &scene.namespace, "lifecycle-test")
        .await
        .unwrap();
    let installed = install(&scene);
    assert!(installed.status.success(), "{}", stderr(&installed));
    assert_fetch_models_read(&scene, "modelops-artifact-credentials").await;
    let finally = scene.run(&[&["finally"][..], &scene.job_ref()].concat());
    assert!(finally.status.success(), "{}", stderr(&finally));
    assert!(
        secrets
            .get_opt("modelops-artifact-credentials")
            .await
            .unwrap()
            .is_some(),
        "the platform's Secret is not the job's: finally leaves it"
    );
    scene.cleanup().await;
}

/// `--artifact-credentials from-env`: install makes the job's own Secret from its environment
/// (only the variables the job's stores read), records it, and finally deletes it; its secret value
/// shows up in no output, result or record. Without what a store needs, nothing is applied.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn from_env_credentials_make_a_job_owned_secret_that_finally_deletes() {
    let Some(scene) = Scene::new("credentials_from_env").await else {
        return;
    };
    let args = scene.install_args("examples/batch-fraud", &[]);
    let mut command = scene.command(&args);
    command.env_remove("AWS_SECRET_ACCESS_KEY");
    let refused = command.output().expect("the binary runs");
    let err = stderr(&refused);
    assert_eq!(refused.status.code(), Some(2), "{err}");
    assert!(
        err.contains("the executor's environment")
            && err.contains("model(s) fraud-gbm, merchant-risk: S3 needs"),
        "{err}"
    );
    assert!(scene.record().await.is_none() && scene.remaining().await.is_empty());

    let results = scene.results.path().display().to_string();
    let mut args = scene.install_args("examples/batch-fraud", &["--results-dir", &results]);
    args.extend(["--log-format", "json", "-v"]);
    let install = scene.run(&args);
    assert!(install.status.success(), "{}", stderr(&install));
    let name = modelops_executor::preprocess::credentials_secret_name(&scene.job_id);
    let secret = scene
        .labelled::<Secret>()
        .await
        .into_iter()
        .find(|s| s.name_any() == name)
        .unwrap_or_else(|| panic!("Secret {name} with the job label"));
    let keys: Vec<&String> = secret.data.as_ref().unwrap().keys().collect();
    for key in [
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "GOOGLE_SERVICE_ACCOUNT_KEY",
    ] {
        assert!(keys.iter().any(|k| *k == key), "{key} missing: {keys:?}");
    }
    assert!(
        keys.iter()
            .all(|k| k.starts_with("AWS_") || k.starts_with("GOOGLE_")),
        "only the variables of the stores the job uses: {keys:?}"
    );
    assert!(
        scene
            .inventory()
            .await
            .iter()
            .any(|line| line.contains(&format!(" Secret {} {name} ", scene.namespace))),
        "the record lists the Secret"
    );
    assert_fetch_models_read(&scene, &name).await;
    // A no-op re-install leaves the Secret as it was (the workloads' versions move with their
    // controllers' status updates; reinstall_is_a_no_op… checks what install writes to those).
    let before = secret.metadata.resource_version.clone();
    let again = scene.run(&scene.install_args("examples/batch-fraud", &[]));
    assert!(again.status.success(), "{}", stderr(&again));
    let secrets: Api<Secret> = Api::namespaced(scene.client.clone(), &scene.namespace);
    assert_eq!(
        secrets.get(&name).await.unwrap().metadata.resource_version,
        before
    );

    let finally = scene.run(
        &[
            &["finally", "--results-dir", &results][..],
            &scene.job_ref(),
        ]
        .concat(),
    );
    assert!(finally.status.success(), "{}", stderr(&finally));
    assert!(
        secrets.get_opt(&name).await.unwrap().is_none(),
        "finally deleted {name}"
    );

    let secret_value = common::STAND_IN_SECRET_ACCESS_KEY;
    let mut shown = vec![stderr(&install), stderr(&again), stderr(&finally)];
    shown.push(String::from_utf8_lossy(&install.stdout).into_owned());
    for entry in std::fs::read_dir(scene.results.path()).unwrap() {
        shown.push(std::fs::read_to_string(entry.unwrap().path()).unwrap_or_default());
    }
    let records: Api<ConfigMap> = Api::namespaced(scene.client.clone(), &scene.namespace);
    for record in records.list(&ListParams::default()).await.unwrap() {
        shown.push(serde_json::to_string(&record).unwrap());
    }
    for text in &shown {
        assert!(!text.contains(secret_value), "the secret leaked:\n{text}");
    }
    assert!(
        stderr(&install)
            .contains("artifact credentials Secret is made from the executor's environment")
    );
    scene.cleanup().await;
}

/// Every scoring service's `fetch-models` init container takes its environment from `secret`.
async fn assert_fetch_models_read(scene: &Scene, secret: &str) {
    let deployments = scene.labelled::<Deployment>().await;
    let mut services = 0;
    for deployment in &deployments {
        let pod = deployment
            .spec
            .as_ref()
            .unwrap()
            .template
            .spec
            .as_ref()
            .unwrap();
        for init in pod.init_containers.iter().flatten() {
            if init.name != "fetch-models" {
                continue;
            }
            services += 1;
            let sources: Vec<&str> = init
                .env_from
                .iter()
                .flatten()
                .filter_map(|source| source.secret_ref.as_ref())
                .map(|secret_ref| secret_ref.name.as_str())
                .collect();
            assert_eq!(sources, [secret], "{}", deployment.name_any());
        }
    }
    assert!(
        services > 0,
        "no scoring service with fetch-models among {} deployments",
        deployments.len()
    );
}
