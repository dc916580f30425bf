//! Integration tests proving that the local control plane of `scripts/testcluster.sh` is a real,
//! complete-enough Kubernetes (issue 3, docs/testcluster.md): etcd, kube-apiserver,
//! kube-controller-manager, kube-scheduler and kwok.
//!
//! Gated on `MODELOPS_TEST_KUBECONFIG` (the kubeconfig written by `scripts/testcluster.sh up`).
//! Unset: each test prints that it was skipped, except when `CI` is set, where it fails loudly.
//! Run them with `scripts/test.sh`, or:
//!
//! ```sh
//! scripts/testcluster.sh up
//! MODELOPS_TEST_KUBECONFIG=$(scripts/testcluster.sh kubeconfig) cargo test --test testcluster
//! ```
//!
//! Every test works in its own namespace (`it-<test>-<suffix>`) and deletes it at the end, also
//! when it fails.

use std::fmt::Debug;
use std::future::Future;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail, ensure};
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{
    ConfigMap, Namespace, Node, PersistentVolume, PersistentVolumeClaim, Pod, Service,
    ServiceAccount,
};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, ListParams, Patch,
    PatchParams, PostParams,
};
use kube::runtime::wait::{Condition, await_condition, conditions};
use kube::{Client, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use serde_json::json;

mod common;
use common::{client_from, kubeconfig_path, unique_suffix};

/// Default bound for every wait; the cluster normally answers within a few seconds.
const WAIT: Duration = Duration::from_secs(90);

// ---------------------------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------------------------

/// Runs `body` with a fresh namespace (whose `default` ServiceAccount exists, so bare pods can be
/// created), then deletes the namespace whatever happened, and reports the body's outcome.
async fn in_namespace<F, Fut>(test: &str, body: F)
where
    F: FnOnce(Client, String) -> Fut,
    Fut: Future<Output = Result<()>> + Send + 'static,
{
    let Some(path) = kubeconfig_path(test) else {
        return;
    };
    let client = client_from(&path).await.expect("kube client");
    let ns = format!("it-{}-{}", test.replace('_', "-"), unique_suffix());
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let obj: Namespace = from_json(json!({
        "metadata": { "name": ns, "labels": { "modelops.io/integration-test": test } }
    }));
    namespaces
        .create(&PostParams::default(), &obj)
        .await
        .expect("create namespace");
    let sas: Api<ServiceAccount> = Api::namespaced(client.clone(), &ns);
    wait_for(
        &sas,
        "default",
        "ServiceAccount default (created by kube-controller-manager)",
        conditions::is_created(),
    )
    .await
    .expect("default service account");

    // A spawned task turns a panic in the body into a JoinError, so cleanup still runs.
    let outcome = tokio::spawn(body(client.clone(), ns.clone())).await;
    if let Err(e) = namespaces.delete(&ns, &DeleteParams::background()).await {
        eprintln!("{test}: cleanup: deleting namespace {ns} failed: {e}");
    }
    match outcome {
        Ok(Ok(())) => {}
        Ok(Err(e)) => panic!("{test} (namespace {ns}) failed: {e:#}"),
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(e) => panic!("{test}: task error {e}"),
    }
}

fn from_json<T: DeserializeOwned>(v: serde_json::Value) -> T {
    serde_json::from_value(v).expect("test object JSON matches the Kubernetes type")
}

/// Waits (watch based, bounded by [`WAIT`]) until `cond` holds for the named object. The timeout
/// error names what was awaited and shows the object's last state.
async fn wait_for<K>(api: &Api<K>, name: &str, what: &str, cond: impl Condition<K>) -> Result<K>
where
    K: Clone + Debug + Send + DeserializeOwned + Resource + serde::Serialize + 'static,
{
    match tokio::time::timeout(WAIT, await_condition(api.clone(), name, cond)).await {
        Ok(Ok(Some(obj))) => Ok(obj),
        Ok(Ok(None)) => Ok(api.get(name).await?), // condition accepted "absent"
        Ok(Err(e)) => Err(anyhow!("watching {name} for {what}: {e}")),
        Err(_) => {
            let last = match api.get_opt(name).await {
                Ok(Some(o)) => serde_json::to_string(&o).unwrap_or_default(),
                Ok(None) => "<absent>".into(),
                Err(e) => format!("<get failed: {e}>"),
            };
            bail!("timed out after {WAIT:?} waiting for {what} ({name}); last state: {last}")
        }
    }
}

/// Waits until `name` no longer exists (bounded by [`WAIT`]).
async fn wait_gone<K>(api: &Api<K>, name: &str, what: &str) -> Result<()>
where
    K: Clone + Debug + Send + DeserializeOwned + Resource + 'static,
{
    let gone = |o: Option<&K>| o.is_none();
    match tokio::time::timeout(WAIT, await_condition(api.clone(), name, gone)).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(anyhow!("watching {name} until {what} is gone: {e}")),
        Err(_) => bail!("timed out after {WAIT:?} waiting for {what} ({name}) to be deleted"),
    }
}

/// Polls `check` every 250 ms until it returns `Ok(Some(_))`, bounded by [`WAIT`].
async fn poll<T, F, Fut>(what: &str, mut check: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Option<T>>>,
{
    let start = Instant::now();
    let mut last = String::new();
    loop {
        match check().await {
            Ok(Some(v)) => return Ok(v),
            Ok(None) => {}
            Err(e) => last = format!("{e:#}"),
        }
        if start.elapsed() > WAIT {
            bail!("timed out after {WAIT:?} waiting for {what} (last error: {last})");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

fn deployment(name: &str, replicas: i32, pod_annotations: serde_json::Value) -> Deployment {
    from_json(json!({
        "metadata": { "name": name },
        "spec": {
            "replicas": replicas,
            "selector": { "matchLabels": { "app": name } },
            "template": {
                "metadata": { "labels": { "app": name }, "annotations": pod_annotations },
                "spec": { "containers": [{
                    "name": "main",
                    "image": "registry.invalid/modelops/scorer:1.0",
                    "ports": [{ "containerPort": 8080, "name": "http" }]
                }] }
            }
        }
    }))
}

fn has_condition(conds: Option<&Vec<impl serde::Serialize>>, type_: &str, status: &str) -> bool {
    conds.into_iter().flatten().any(|c| {
        let v = serde_json::to_value(c).unwrap_or_default();
        v["type"] == type_ && v["status"] == status
    })
}

fn deployment_available(replicas: i32) -> impl Condition<Deployment> {
    move |d: Option<&Deployment>| {
        let Some(status) = d.and_then(|d| d.status.as_ref()) else {
            return false;
        };
        status.available_replicas == Some(replicas)
            && status.ready_replicas == Some(replicas)
            && has_condition(status.conditions.as_ref(), "Available", "True")
    }
}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namespace_is_created_served_and_finalized() {
    let Some(path) = kubeconfig_path("namespace_is_created_served_and_finalized") else {
        return;
    };
    let client = client_from(&path).await.expect("client");
    let version = client.apiserver_version().await.expect("/version");
    assert_eq!(version.major, "1", "server version {version:?}");
    assert!(
        version.git_version.starts_with("v1."),
        "server version {version:?}"
    );

    let name = format!("it-namespace-{}", unique_suffix());
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let ns: Namespace =
        from_json(json!({ "metadata": { "name": name, "labels": { "team": "modelops" } } }));
    let created = namespaces
        .create(&PostParams::default(), &ns)
        .await
        .expect("create namespace");
    assert!(created.uid().is_some(), "the API server assigns a uid");
    let got = namespaces.get(&name).await.expect("get namespace");
    assert_eq!(
        got.labels().get("team").map(String::as_str),
        Some("modelops")
    );
    assert_eq!(got.status.and_then(|s| s.phase).as_deref(), Some("Active"));
    let listed = namespaces
        .list(&ListParams::default().labels("team=modelops"))
        .await
        .expect("list namespaces");
    assert!(
        listed.items.iter().any(|n| n.name_any() == name),
        "label selector finds the namespace"
    );

    // kube-controller-manager's service-account controller populates it...
    let sas: Api<ServiceAccount> = Api::namespaced(client.clone(), &name);
    wait_for(
        &sas,
        "default",
        "ServiceAccount default",
        conditions::is_created(),
    )
    .await
    .expect("sa");
    // ...and its namespace controller finalizes the deletion.
    namespaces
        .delete(&name, &DeleteParams::default())
        .await
        .expect("delete namespace");
    wait_gone(&namespaces, &name, "the namespace")
        .await
        .expect("namespace finalized");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deployment_with_two_replicas_becomes_available() {
    in_namespace("deployment_available", |client, ns| async move {
        let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ns);
        deployments
            .create(&PostParams::default(), &deployment("scorer", 2, json!({})))
            .await?;
        let d = wait_for(
            &deployments,
            "scorer",
            "Deployment Available with 2 ready replicas",
            deployment_available(2),
        )
        .await?;
        ensure!(
            d.status.as_ref().and_then(|s| s.updated_replicas) == Some(2),
            "updated replicas: {:?}",
            d.status
        );

        // Real controllers and scheduler did the work: a ReplicaSet owns 2 pods bound to kwok nodes.
        let rss: Api<ReplicaSet> = Api::namespaced(client.clone(), &ns);
        let rs_list = rss
            .list(&ListParams::default().labels("app=scorer"))
            .await?;
        ensure!(
            rs_list.items.len() == 1,
            "expected one ReplicaSet, got {}",
            rs_list.items.len()
        );
        let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
        let nodes: Api<Node> = Api::all(client.clone());
        let pod_list = pods
            .list(&ListParams::default().labels("app=scorer"))
            .await?;
        ensure!(
            pod_list.items.len() == 2,
            "expected 2 pods, got {}",
            pod_list.items.len()
        );
        for p in &pod_list.items {
            let node = p
                .spec
                .as_ref()
                .and_then(|s| s.node_name.clone())
                .unwrap_or_default();
            // Bound by the scheduler to an existing node (other tests may add nodes of their own
            // to a shared cluster, so the name is not assumed).
            ensure!(!node.is_empty(), "pod {} was not scheduled", p.name_any());
            ensure!(
                nodes.get_opt(&node).await?.is_some(),
                "pod {} scheduled on a node that does not exist: {node:?}",
                p.name_any()
            );
            let status = p.status.as_ref().context("pod status")?;
            ensure!(
                status.phase.as_deref() == Some("Running"),
                "pod phase {:?}",
                status.phase
            );
            ensure!(status.pod_ip.is_some(), "pod {} has no IP", p.name_any());
            ensure!(
                p.owner_references().iter().any(|o| o.kind == "ReplicaSet"),
                "pod {} is not owned by a ReplicaSet",
                p.name_any()
            );
        }
        Ok(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn job_runs_to_completion() {
    in_namespace("job_completes", |client, ns| async move {
        let jobs: Api<Job> = Api::namespaced(client.clone(), &ns);
        let job: Job = from_json(json!({
            "metadata": { "name": "preprocess" },
            "spec": {
                "backoffLimit": 0,
                "completions": 1,
                "template": { "spec": {
                    "restartPolicy": "Never",
                    "containers": [{ "name": "main", "image": "registry.invalid/modelops/preprocess:1.0" }]
                } }
            }
        }));
        jobs.create(&PostParams::default(), &job).await?;
        let done = wait_for(&jobs, "preprocess", "Job condition Complete", conditions::is_job_completed()).await?;
        let status = done.status.context("job status")?;
        ensure!(status.succeeded == Some(1), "succeeded: {:?}", status.succeeded);
        ensure!(has_condition(status.conditions.as_ref(), "Complete", "True"), "conditions {:?}", status.conditions);
        ensure!(status.completion_time.is_some(), "completion time missing");
        Ok(())
    })
    .await;
}

/// Creates a bare pod with `modelops.io/test-fail: <mode>` and waits until `cond` sees it.
async fn failing_pod(
    client: &Client,
    ns: &str,
    name: &str,
    mode: &str,
    what: &str,
    cond: impl Condition<Pod>,
) -> Result<Pod> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    let pod: Pod = from_json(json!({
        "metadata": { "name": name, "annotations": { "modelops.io/test-fail": mode, "modelops.io/test-exit-code": "3" } },
        "spec": { "containers": [{ "name": "main", "image": "registry.invalid/modelops/broken:0.0" }] }
    }));
    pods.create(&PostParams::default(), &pod).await?;
    wait_for(&pods, name, what, cond).await
}

fn waiting_reason(p: &Pod) -> Option<String> {
    p.status
        .as_ref()?
        .container_statuses
        .as_ref()?
        .first()?
        .state
        .as_ref()?
        .waiting
        .as_ref()?
        .reason
        .clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pod_in_crash_loop_is_reported() {
    in_namespace("pod_crashloop", |client, ns| async move {
        let crashing =
            |p: Option<&Pod>| p.and_then(waiting_reason).as_deref() == Some("CrashLoopBackOff");
        let p = failing_pod(
            &client,
            &ns,
            "crasher",
            "crashloop",
            "container waiting in CrashLoopBackOff",
            crashing,
        )
        .await?;
        let status = p.status.as_ref().context("status")?;
        ensure!(
            status.phase.as_deref() == Some("Running"),
            "phase {:?}",
            status.phase
        );
        ensure!(
            has_condition(status.conditions.as_ref(), "Ready", "False"),
            "Ready must be False: {:?}",
            status.conditions
        );
        let cs = &status
            .container_statuses
            .as_ref()
            .context("container statuses")?[0];
        ensure!(cs.restart_count >= 1, "restartCount {}", cs.restart_count);
        ensure!(!cs.ready, "container must not be ready");
        let last = cs
            .last_state
            .as_ref()
            .and_then(|s| s.terminated.as_ref())
            .context("lastState.terminated")?;
        ensure!(
            last.exit_code == 3,
            "exit code from modelops.io/test-exit-code: {}",
            last.exit_code
        );

        // The kubelet-like back-off keeps counting restarts.
        let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
        let restarted = |p: Option<&Pod>| {
            p.and_then(|p| {
                p.status
                    .as_ref()?
                    .container_statuses
                    .as_ref()?
                    .first()
                    .map(|c| c.restart_count)
            })
            .is_some_and(|n| n >= 2)
        };
        wait_for(&pods, "crasher", "restartCount >= 2", restarted).await?;
        Ok(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pod_with_image_pull_error_is_reported() {
    in_namespace("pod_imagepull", |client, ns| async move {
        let backoff =
            |p: Option<&Pod>| p.and_then(waiting_reason).as_deref() == Some("ImagePullBackOff");
        let p = failing_pod(
            &client,
            &ns,
            "unpullable",
            "imagepull",
            "container waiting in ImagePullBackOff",
            backoff,
        )
        .await?;
        let status = p.status.as_ref().context("status")?;
        ensure!(
            status.phase.as_deref() == Some("Pending"),
            "phase {:?}",
            status.phase
        );
        ensure!(
            has_condition(status.conditions.as_ref(), "Ready", "False"),
            "conditions {:?}",
            status.conditions
        );
        let msg = status
            .container_statuses
            .as_ref()
            .and_then(|c| c[0].state.as_ref()?.waiting.as_ref()?.message.clone());
        ensure!(
            msg.unwrap_or_default()
                .contains("registry.invalid/modelops/broken:0.0"),
            "waiting message names the image"
        );
        Ok(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_pod_and_failed_job_are_reported() {
    in_namespace("pod_failed", |client, ns| async move {
        let failed = |p: Option<&Pod>| p.and_then(|p| p.status.as_ref()?.phase.clone()).as_deref() == Some("Failed");
        let p = failing_pod(&client, &ns, "doomed", "failed", "pod phase Failed", failed).await?;
        let cs = &p.status.as_ref().and_then(|s| s.container_statuses.clone()).context("container statuses")?[0];
        let term = cs.state.as_ref().and_then(|s| s.terminated.as_ref()).context("state.terminated")?;
        ensure!(term.exit_code == 3 && term.reason.as_deref() == Some("Error"), "terminated {term:?}");

        // A Job whose pod fails, with backoffLimit 0, fails as a whole.
        let jobs: Api<Job> = Api::namespaced(client.clone(), &ns);
        let job: Job = from_json(json!({
            "metadata": { "name": "doomed-job" },
            "spec": {
                "backoffLimit": 0,
                "template": {
                    "metadata": { "annotations": { "modelops.io/test-fail": "failed" } },
                    "spec": {
                        "restartPolicy": "Never",
                        "containers": [{ "name": "main", "image": "registry.invalid/modelops/broken:0.0" }]
                    }
                }
            }
        }));
        jobs.create(&PostParams::default(), &job).await?;
        let job_failed = |j: Option<&Job>| {
            j.and_then(|j| j.status.as_ref()).is_some_and(|s| has_condition(s.conditions.as_ref(), "Failed", "True"))
        };
        let j = wait_for(&jobs, "doomed-job", "Job condition Failed", job_failed).await?;
        let status = j.status.context("job status")?;
        ensure!(status.failed == Some(1), "failed pods: {:?}", status.failed);
        let reason = status.conditions.unwrap_or_default().into_iter().find(|c| c.type_ == "Failed").and_then(|c| c.reason);
        ensure!(reason.as_deref() == Some("BackoffLimitExceeded"), "Failed reason {reason:?}");
        Ok(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_gets_endpoint_slices() {
    in_namespace("service_endpoints", |client, ns| async move {
        let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ns);
        deployments.create(&PostParams::default(), &deployment("web", 2, json!({}))).await?;
        let services: Api<Service> = Api::namespaced(client.clone(), &ns);
        let svc: Service = from_json(json!({
            "metadata": { "name": "web" },
            "spec": { "selector": { "app": "web" }, "ports": [{ "name": "http", "port": 80, "targetPort": "http" }] }
        }));
        let created = services.create(&PostParams::default(), &svc).await?;
        let cluster_ip = created.spec.and_then(|s| s.cluster_ip).unwrap_or_default();
        ensure!(cluster_ip.starts_with("10."), "ClusterIP allocated from 10.96.0.0/12: {cluster_ip:?}");

        let slices: Api<EndpointSlice> = Api::namespaced(client.clone(), &ns);
        let lp = ListParams::default().labels("kubernetes.io/service-name=web");
        let addresses = poll("2 ready endpoints in the EndpointSlices of Service web", || async {
            let list = slices.list(&lp).await?;
            let mut ready = Vec::new();
            for s in &list.items {
                let port_ok = s.ports.iter().flatten().any(|p| p.port == Some(8080));
                for e in s.endpoints.iter().flatten() {
                    if port_ok && e.conditions.as_ref().and_then(|c| c.ready) == Some(true) {
                        ready.extend(e.addresses.iter().cloned());
                    }
                }
            }
            Ok((ready.len() == 2).then_some(ready))
        })
        .await?;
        let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
        let pod_ips: Vec<String> = pods
            .list(&ListParams::default().labels("app=web"))
            .await?
            .items
            .iter()
            .filter_map(|p| p.status.as_ref()?.pod_ip.clone())
            .collect();
        for a in &addresses {
            ensure!(pod_ips.contains(a), "endpoint {a} is not a pod IP ({pod_ips:?})");
        }
        Ok(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_side_apply_detects_conflicts_between_managers() {
    in_namespace("server_side_apply", |client, ns| async move {
        let cms: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
        let apply = |value: &str| {
            json!({
                "apiVersion": "v1", "kind": "ConfigMap",
                "metadata": { "name": "settings" },
                "data": { "threshold": value }
            })
        };
        let first = cms
            .patch(
                "settings",
                &PatchParams::apply("modelops-executor"),
                &Patch::Apply(&apply("0.5")),
            )
            .await?;
        let managers: Vec<_> = first
            .managed_fields()
            .iter()
            .filter_map(|m| m.manager.clone())
            .collect();
        ensure!(
            managers.contains(&"modelops-executor".to_string()),
            "managedFields {managers:?}"
        );

        // Re-applying the same intent with the same manager is a no-op, not a conflict.
        cms.patch(
            "settings",
            &PatchParams::apply("modelops-executor"),
            &Patch::Apply(&apply("0.5")),
        )
        .await?;

        // Another manager changing the owned field gets a 409 that names the owner.
        match cms
            .patch(
                "settings",
                &PatchParams::apply("someone-else"),
                &Patch::Apply(&apply("0.9")),
            )
            .await
        {
            Err(kube::Error::Api(status)) => {
                ensure!(
                    status.code == 409 && status.is_conflict(),
                    "expected 409 Conflict, got {status:?}"
                );
                ensure!(
                    status.message.contains("modelops-executor"),
                    "conflict message must name the manager: {}",
                    status.message
                );
                ensure!(
                    status.message.contains(".data.threshold"),
                    "conflict message must name the field: {}",
                    status.message
                );
            }
            Err(e) => bail!("expected a 409 conflict, got error {e}"),
            Ok(cm) => bail!(
                "expected a 409 conflict, the apply succeeded: {:?}",
                cm.data
            ),
        }
        ensure!(
            cms.get("settings").await?.data.unwrap_or_default()["threshold"] == "0.5",
            "value must be unchanged"
        );

        // Forcing takes the field over.
        let forced = cms
            .patch(
                "settings",
                &PatchParams::apply("someone-else").force(),
                &Patch::Apply(&apply("0.9")),
            )
            .await?;
        ensure!(
            forced.data.unwrap_or_default()["threshold"] == "0.9",
            "forced value"
        );
        Ok(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn custom_resource_definition_is_established_and_usable() {
    in_namespace("crd", |client, ns| async move {
        let group = format!("t{}.it.modelops.io", unique_suffix());
        let crd_name = format!("scoringpipelines.{group}");
        let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
        let crd: CustomResourceDefinition = from_json(json!({
            "metadata": { "name": crd_name },
            "spec": {
                "group": group,
                "scope": "Namespaced",
                "names": { "plural": "scoringpipelines", "singular": "scoringpipeline", "kind": "ScoringPipeline" },
                "versions": [{
                    "name": "v1", "served": true, "storage": true,
                    "schema": { "openAPIV3Schema": {
                        "type": "object",
                        "properties": { "spec": {
                            "type": "object",
                            "required": ["model"],
                            "properties": { "model": { "type": "string" }, "replicas": { "type": "integer", "minimum": 1 } }
                        } }
                    } }
                }]
            }
        }));
        crds.create(&PostParams::default(), &crd).await?;
        let result = async {
            wait_for(&crds, &crd_name, "CRD condition Established", conditions::is_crd_established()).await?;
            let gvk = GroupVersionKind::gvk(&group, "v1", "ScoringPipeline");
            let ar = ApiResource::from_gvk_with_plural(&gvk, "scoringpipelines");
            let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), &ns, &ar);
            let mut cr = DynamicObject::new("fraud", &ar);
            cr.data = json!({ "spec": { "model": "fraud-v3", "replicas": 2 } });
            // The new resource may need a moment to appear in discovery/handlers.
            poll("creating a ScoringPipeline", || async {
                match api.create(&PostParams::default(), &cr).await {
                    Ok(o) => Ok(Some(o)),
                    Err(kube::Error::Api(s)) if s.is_already_exists() => Ok(Some(api.get("fraud").await?)),
                    Err(e) => Err(e.into()),
                }
            })
            .await?;
            let got = api.get("fraud").await?;
            ensure!(got.data["spec"]["model"] == "fraud-v3", "stored CR {:?}", got.data);
            // The schema is enforced by the API server.
            let mut bad = DynamicObject::new("bad", &ar);
            bad.data = json!({ "spec": { "replicas": 0 } });
            match api.create(&PostParams::default(), &bad).await {
                Err(kube::Error::Api(s)) if s.code == 422 => {}
                other => bail!("expected 422 Invalid for a CR violating the schema, got {other:?}"),
            }
            ensure!(api.list(&ListParams::default()).await?.items.len() == 1, "one CR listed");
            Ok(())
        }
        .await;
        let cleanup = crds.delete(&crd_name, &DeleteParams::default()).await;
        result?;
        cleanup?;
        Ok(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn foreground_deletion_removes_dependents() {
    in_namespace("foreground_deletion", |client, ns| async move {
        let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ns);
        deployments
            .create(&PostParams::default(), &deployment("doomed", 2, json!({})))
            .await?;
        wait_for(
            &deployments,
            "doomed",
            "Deployment Available",
            deployment_available(2),
        )
        .await?;
        let rss: Api<ReplicaSet> = Api::namespaced(client.clone(), &ns);
        let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
        let lp = ListParams::default().labels("app=doomed");
        let rs_names: Vec<String> = rss
            .list(&lp)
            .await?
            .items
            .iter()
            .map(|r| r.name_any())
            .collect();
        let pod_names: Vec<String> = pods
            .list(&lp)
            .await?
            .items
            .iter()
            .map(|p| p.name_any())
            .collect();
        ensure!(
            rs_names.len() == 1 && pod_names.len() == 2,
            "rs {rs_names:?} pods {pod_names:?}"
        );

        deployments
            .delete("doomed", &DeleteParams::foreground())
            .await?;
        // With foreground propagation the owner disappears only after its dependents.
        wait_gone(
            &deployments,
            "doomed",
            "the Deployment (foreground deletion)",
        )
        .await?;
        for rs in &rs_names {
            ensure!(
                rss.get_opt(rs).await?.is_none(),
                "ReplicaSet {rs} still exists after its owner"
            );
        }
        for p in &pod_names {
            ensure!(
                pods.get_opt(p).await?.is_none(),
                "Pod {p} still exists after its owners"
            );
        }
        Ok(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn persistent_volume_claim_gets_bound() {
    in_namespace("pvc_bound", |client, ns| async move {
        // No storageClassName: the default StorageClass kwok-volume (testcluster/manifests) applies.
        let pvcs: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), &ns);
        let pvc: PersistentVolumeClaim = from_json(json!({
            "metadata": { "name": "model-cache" },
            "spec": { "accessModes": ["ReadWriteOnce"], "resources": { "requests": { "storage": "5Gi" } } }
        }));
        pvcs.create(&PostParams::default(), &pvc).await?;
        let bound = |p: Option<&PersistentVolumeClaim>| {
            p.and_then(|p| p.status.as_ref()?.phase.clone()).as_deref() == Some("Bound")
        };
        let p = wait_for(&pvcs, "model-cache", "PersistentVolumeClaim phase Bound", bound).await?;
        let spec = p.spec.context("pvc spec")?;
        ensure!(spec.storage_class_name.as_deref() == Some("kwok-volume"), "storage class {:?}", spec.storage_class_name);
        let volume = spec.volume_name.context("volumeName")?;
        let pvs: Api<PersistentVolume> = Api::all(client.clone());
        let pv = pvs.get(&volume).await?;
        let claim = pv.spec.as_ref().and_then(|s| s.claim_ref.as_ref()).context("claimRef")?;
        ensure!(claim.name.as_deref() == Some("model-cache") && claim.namespace.as_deref() == Some(ns.as_str()), "claimRef {claim:?}");

        // Deleting the claim releases and deletes the volume (reclaim policy Delete).
        pvcs.delete("model-cache", &DeleteParams::default()).await?;
        wait_gone(&pvcs, "model-cache", "the PersistentVolumeClaim").await?;
        wait_gone(&pvs, &volume, "the PersistentVolume").await?;
        Ok(())
    })
    .await;
}
