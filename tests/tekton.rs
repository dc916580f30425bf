//! tekton/ on the real local control plane (issue 5): Tekton's own CRDs (tekton/crds/, copied from
//! the pinned Go module) are server-side applied and awaited as Established, then every object of
//! tekton/ is server-side applied for real (strict field validation, no dry run) into fresh
//! namespaces, read back unchanged, and deleted. The RBAC is then proven twice: the API server's
//! own SubjectAccessReview answers for the task ServiceAccount, and the real binary runs
//! install → wait → finally as that ServiceAccount (impersonated) with the environment the
//! Tekton Task steps give it, and is refused outside its Role.
//!
//! Gated on `MODELOPS_TEST_KUBECONFIG` (scripts/testcluster.sh): skipped visibly without it, a
//! failure when `CI` is set. The CRDs stay installed (applying them again is a no-op); everything
//! else is removed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail, ensure};
use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec,
};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Client;
use kube::api::{
    Api, DeleteParams, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams,
    ValidationDirective,
};
use kube::discovery::{self, Scope};
use kube::runtime::wait::{await_condition, conditions};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_modelops-executor");
mod common;
use common::root;
use common::{client_from, kubeconfig_path};

const MANAGER: &str = "modelops-tekton-test";
const SERVICE_ACCOUNT: &str = "modelops-executor";
const WAIT: Duration = Duration::from_secs(60);

/// Every YAML document of a file, in order.
fn documents(path: &Path) -> Result<Vec<Value>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let docs = modelops_executor::yaml::parse_documents(&text)
        .map_err(|e| anyhow!("{}: {e}", path.display()))?;
    Ok(docs.into_iter().map(|d| d.value).collect())
}

/// The object files of tekton/ (not crds/, not the Go module), sorted.
fn tekton_files() -> Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(root().join("tekton"))?
        .map(|e| e.map(|e| e.path()))
        .collect::<std::io::Result<_>>()?;
    files.retain(|p| p.is_file() && p.extension().is_some_and(|e| e == "yaml" || e == "yml"));
    files.sort();
    ensure!(
        files.len() >= 6,
        "expected the tekton/ YAML files, found {files:?}"
    );
    Ok(files)
}

fn strict_apply() -> PatchParams {
    let mut params = PatchParams::apply(MANAGER).force();
    params.field_validation = Some(ValidationDirective::Strict);
    params
}

/// Server-side applies Tekton's CRDs and waits until each is Established.
async fn apply_crds(client: &Client) -> Result<Vec<String>> {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    let mut names = Vec::new();
    let mut paths: Vec<PathBuf> = std::fs::read_dir(root().join("tekton/crds"))?
        .map(|e| e.map(|e| e.path()))
        .collect::<std::io::Result<_>>()?;
    paths.retain(|p| p.extension().is_some_and(|e| e == "yaml"));
    paths.sort();
    for path in &paths {
        for doc in documents(path)? {
            let name = doc["metadata"]["name"]
                .as_str()
                .context("CRD name")?
                .to_string();
            api.patch(&name, &strict_apply(), &Patch::Apply(&doc))
                .await
                .with_context(|| format!("applying CRD {name} from {}", path.display()))?;
            names.push(name);
        }
    }
    ensure!(
        [
            "pipelineruns.tekton.dev",
            "pipelines.tekton.dev",
            "tasks.tekton.dev"
        ]
        .iter()
        .all(|n| names.iter().any(|m| m == n)),
        "tekton/crds/ lacks a Task, Pipeline or PipelineRun CRD: {names:?}"
    );
    for name in &names {
        tokio::time::timeout(
            WAIT,
            await_condition(api.clone(), name, conditions::is_crd_established()),
        )
        .await
        .with_context(|| format!("CRD {name} not Established within {WAIT:?}"))??;
    }
    Ok(names)
}

/// The API of an object's kind, from fresh discovery (retried: a CRD just established may take a
/// moment to appear in discovery).
async fn api_for(client: &Client, object: &Value) -> Result<(Api<DynamicObject>, bool)> {
    let api_version = object["apiVersion"].as_str().context("apiVersion")?;
    let kind = object["kind"].as_str().context("kind")?;
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    let gvk = GroupVersionKind::gvk(group, version, kind);
    let started = Instant::now();
    let (resource, capabilities) = loop {
        match discovery::pinned_kind(client, &gvk).await {
            Ok(found) => break found,
            Err(err) if started.elapsed() < WAIT => {
                eprintln!("discovery of {api_version} {kind}: {err}; retrying");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(err) => return Err(err).context(format!("discovering {api_version} {kind}")),
        }
    };
    match capabilities.scope {
        Scope::Namespaced => {
            let namespace = object["metadata"]["namespace"]
                .as_str()
                .context("a namespaced object without namespace")?;
            Ok((
                Api::namespaced_with(client.clone(), namespace, &resource),
                true,
            ))
        }
        Scope::Cluster => Ok((Api::all_with(client.clone(), &resource), false)),
    }
}

/// Where this run puts the objects of tekton/: the Pipeline's namespace, the data channel
/// registry's namespace, and a suffix for cluster-scoped names.
struct Placement {
    namespace: String,
    channels_namespace: String,
    suffix: String,
}

impl Placement {
    /// Moves a tekton/ object into this run's namespaces: namespaced objects without a namespace
    /// go to the Pipeline's, `datachannels` to the registry's; cluster-scoped names get the suffix;
    /// ServiceAccount subjects point at the Pipeline's namespace.
    fn place(&self, mut object: Value) -> Value {
        let kind = object["kind"].as_str().unwrap_or_default().to_string();
        if kind == "ClusterRole" || kind == "ClusterRoleBinding" {
            let name = object["metadata"]["name"].as_str().unwrap_or_default();
            object["metadata"]["name"] = json!(format!("{name}-{}", self.suffix));
            if kind == "ClusterRoleBinding" {
                let role = object["roleRef"]["name"].as_str().unwrap_or_default();
                object["roleRef"]["name"] = json!(format!("{role}-{}", self.suffix));
            }
        } else {
            let namespace = match object["metadata"]["namespace"].as_str() {
                Some("datachannels") => &self.channels_namespace,
                Some(other) => panic!("tekton/ object {kind} in unexpected namespace {other}"),
                None => &self.namespace,
            };
            object["metadata"]["namespace"] = json!(namespace);
        }
        if let Some(subjects) = object.get_mut("subjects").and_then(Value::as_array_mut) {
            for subject in subjects {
                if subject["kind"] == "ServiceAccount" && subject.get("namespace").is_some() {
                    subject["namespace"] = json!(self.namespace);
                }
            }
        }
        object
    }

    fn user(&self) -> String {
        format!("system:serviceaccount:{}:{SERVICE_ACCOUNT}", self.namespace)
    }
}

/// Every value we sent is in what the server stored (the server may add defaults): nothing was
/// pruned or rewritten. When Tekton's webhook runs in the cluster (scripts/testcluster.sh
/// tekton), it stores durations in Go's canonical form (`15m` as `15m0s`): the same duration.
fn assert_subset(sent: &Value, stored: &Value, path: &str) -> Result<()> {
    match (sent, stored) {
        (Value::Object(a), Value::Object(b)) => {
            for (key, value) in a {
                let child = format!("{path}.{key}");
                match b.get(key) {
                    Some(found) => assert_subset(value, found, &child)?,
                    None if value.is_null() => {}
                    None => bail!("{child} was dropped by the API server"),
                }
            }
            Ok(())
        }
        (Value::Array(a), Value::Array(b)) => {
            ensure!(
                a.len() == b.len(),
                "{path}: {} items sent, {} stored",
                a.len(),
                b.len()
            );
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                assert_subset(x, y, &format!("{path}[{i}]"))?;
            }
            Ok(())
        }
        (Value::String(a), Value::String(b)) if path.contains(".timeouts.") => {
            ensure!(
                go_duration_seconds(a).is_some()
                    && go_duration_seconds(a) == go_duration_seconds(b),
                "{path}: sent {sent}, stored {stored}"
            );
            Ok(())
        }
        _ => {
            ensure!(sent == stored, "{path}: sent {sent}, stored {stored}");
            Ok(())
        }
    }
}

/// Seconds of a Go duration of hours, minutes and seconds (`1h15m`, `15m0s`, `90s`).
fn go_duration_seconds(text: &str) -> Option<f64> {
    let mut total = 0.0;
    let mut number = String::new();
    for c in text.chars() {
        match c {
            '0'..='9' | '.' => number.push(c),
            'h' | 'm' | 's' => {
                let unit = match c {
                    'h' => 3600.0,
                    'm' => 60.0,
                    _ => 1.0,
                };
                total += number.parse::<f64>().ok()? * unit;
                number.clear();
            }
            _ => return None,
        }
    }
    (number.is_empty() && !text.is_empty()).then_some(total)
}

#[test]
fn go_durations_compare_by_value() {
    assert_eq!(go_duration_seconds("15m"), go_duration_seconds("15m0s"));
    assert_eq!(go_duration_seconds("1h15m"), Some(4500.0));
    assert_eq!(go_duration_seconds("1h30m0s"), go_duration_seconds("90m"));
    assert_ne!(go_duration_seconds("15m"), go_duration_seconds("15s"));
    assert_eq!(go_duration_seconds("15"), None);
    assert_eq!(go_duration_seconds(""), None);
    assert!(assert_subset(&json!("15m"), &json!("15m0s"), "spec.timeouts.finally").is_ok());
    assert!(assert_subset(&json!("15m"), &json!("16m"), "spec.timeouts.finally").is_err());
    assert!(assert_subset(&json!("15m"), &json!("15m0s"), "spec.params[0].value").is_err());
}

async fn create_namespace(client: &Client, name: &str) -> Result<()> {
    let api: Api<Namespace> = Api::all(client.clone());
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": name}}))?;
    api.create(&PostParams::default(), &ns)
        .await
        .with_context(|| format!("creating namespace {name}"))?;
    Ok(())
}

/// Applies every object of one tekton/ file; returns what was applied (placed) for clean-up.
async fn apply_file(client: &Client, placement: &Placement, path: &Path) -> Result<Vec<Value>> {
    let mut applied = Vec::new();
    for doc in documents(path)? {
        let object = placement.place(doc);
        let name = object["metadata"]["name"]
            .as_str()
            .context("name")?
            .to_string();
        let what = format!("{} {} ({})", object["kind"], name, path.display());
        let (api, _) = api_for(client, &object).await?;
        api.patch(&name, &strict_apply(), &Patch::Apply(&object))
            .await
            .with_context(|| format!("server-side apply of {what}"))?;
        let stored = api
            .get(&name)
            .await
            .with_context(|| format!("reading back {what}"))?;
        let stored = serde_json::to_value(&stored)?;
        for key in [
            "spec",
            "rules",
            "roleRef",
            "subjects",
            "automountServiceAccountToken",
        ] {
            if let Some(sent) = object.get(key) {
                assert_subset(sent, &stored[key], key).with_context(|| what.clone())?;
            }
        }
        applied.push(object);
    }
    Ok(applied)
}

/// One SubjectAccessReview for the task ServiceAccount.
async fn allowed(
    client: &Client,
    user: &str,
    verb: &str,
    group: &str,
    resource: &str,
    namespace: Option<&str>,
) -> Result<bool> {
    allowed_named(client, user, verb, group, resource, namespace, None).await
}

/// [`allowed`] for one object by name (rules with `resourceNames`).
async fn allowed_named(
    client: &Client,
    user: &str,
    verb: &str,
    group: &str,
    resource: &str,
    namespace: Option<&str>,
    name: Option<&str>,
) -> Result<bool> {
    let (resource, subresource) = match resource.split_once('/') {
        Some((r, s)) => (r, Some(s.to_string())),
        None => (resource, None),
    };
    let review = SubjectAccessReview {
        spec: SubjectAccessReviewSpec {
            user: Some(user.to_string()),
            groups: Some(vec![
                "system:serviceaccounts".into(),
                "system:authenticated".into(),
            ]),
            resource_attributes: Some(ResourceAttributes {
                verb: Some(verb.into()),
                group: Some(group.into()),
                resource: Some(resource.into()),
                subresource,
                namespace: namespace.map(str::to_string),
                name: name.map(str::to_string),
                ..Default::default()
            }),
            ..Default::default()
        },
        ..Default::default()
    };
    let api: Api<SubjectAccessReview> = Api::all(client.clone());
    let answer = api.create(&PostParams::default(), &review).await?;
    Ok(answer.status.is_some_and(|s| s.allowed))
}

/// `(verb, group, resource)` the executor needs in the job's namespace (docs/architecture.md, `cluster/`).
const GRANTED: &[(&str, &str, &str)] = &[
    ("create", "", "configmaps"),
    ("patch", "", "configmaps"),
    ("delete", "", "configmaps"),
    ("watch", "", "configmaps"),
    ("patch", "", "services"),
    ("delete", "", "services"),
    ("create", "apps", "deployments"),
    ("patch", "apps", "deployments"),
    ("watch", "apps", "deployments"),
    ("delete", "apps", "deployments"),
    ("patch", "batch", "jobs"),
    ("watch", "batch", "jobs"),
    ("delete", "batch", "jobs"),
    ("patch", "autoscaling", "horizontalpodautoscalers"),
    ("delete", "autoscaling", "horizontalpodautoscalers"),
    ("list", "", "pods"),
    ("watch", "", "pods"),
    ("get", "", "pods/log"),
    ("list", "", "events"),
    // validate: health and readiness (GET), sample inference requests (POST = create).
    ("get", "", "services/proxy"),
    ("create", "", "services/proxy"),
];

/// What it must not be able to do there.
const REFUSED: &[(&str, &str, &str)] = &[
    ("get", "", "secrets"),
    ("list", "", "secrets"),
    ("delete", "", "pods"),
    ("create", "", "pods"),
    ("create", "", "pods/exec"),
    ("get", "", "pods/proxy"),
    ("update", "apps", "deployments"),
    ("update", "", "configmaps"),
    ("deletecollection", "", "configmaps"),
    ("create", "rbac.authorization.k8s.io", "rolebindings"),
    ("patch", "rbac.authorization.k8s.io", "roles"),
    ("create", "", "serviceaccounts/token"),
    ("create", "tekton.dev", "pipelineruns"),
    ("patch", "apps", "daemonsets"),
    ("create", "", "persistentvolumeclaims"),
];

async fn check_namespaced_rbac(client: &Client, placement: &Placement) -> Result<()> {
    let user = placement.user();
    let ns = placement.namespace.as_str();
    let dc = placement.channels_namespace.as_str();
    let mut wrong = Vec::new();
    for (verb, group, resource) in GRANTED {
        if !allowed(client, &user, verb, group, resource, Some(ns)).await? {
            wrong.push(format!(
                "refused {verb} {group}/{resource} in the job namespace"
            ));
        }
        if allowed(client, &user, verb, group, resource, Some("default")).await? {
            wrong.push(format!(
                "allowed {verb} {group}/{resource} in namespace default"
            ));
        }
    }
    for (verb, group, resource) in REFUSED {
        if allowed(client, &user, verb, group, resource, Some(ns)).await? {
            wrong.push(format!(
                "allowed {verb} {group}/{resource} in the job namespace"
            ));
        }
    }
    // The artifact credentials: `get` of the one Secret the values name by default, no other.
    let credentials = Some("modelops-artifact-credentials");
    if !allowed_named(client, &user, "get", "", "secrets", Some(ns), credentials).await? {
        wrong.push("refused get of Secret modelops-artifact-credentials".into());
    }
    for (verb, name) in [
        ("get", Some("other")),
        ("patch", credentials),
        ("delete", credentials),
    ] {
        if allowed_named(client, &user, verb, "", "secrets", Some(ns), name).await? {
            wrong.push(format!(
                "allowed {verb} of Secret {}",
                name.unwrap_or_default()
            ));
        }
    }
    for verb in ["get", "list"] {
        if !allowed(client, &user, verb, "", "configmaps", Some(dc)).await? {
            wrong.push(format!(
                "refused {verb} configmaps in the registry namespace"
            ));
        }
    }
    for verb in ["watch", "create", "patch", "delete"] {
        if allowed(client, &user, verb, "", "configmaps", Some(dc)).await? {
            wrong.push(format!(
                "allowed {verb} configmaps in the registry namespace"
            ));
        }
    }
    for verb in ["get", "create", "delete"] {
        if allowed(client, &user, verb, "", "namespaces", None).await? {
            wrong.push(format!(
                "allowed {verb} namespaces without rbac-create-namespace.yaml"
            ));
        }
    }
    ensure!(
        wrong.is_empty(),
        "RBAC of tekton/rbac*.yaml for {user}:\n  {}",
        wrong.join("\n  ")
    );
    Ok(())
}

async fn delete_objects(client: &Client, objects: &[Value]) {
    for object in objects.iter().rev() {
        let name = object["metadata"]["name"].as_str().unwrap_or_default();
        if let Ok((api, _)) = api_for(client, object).await
            && let Err(err) = api.delete(name, &DeleteParams::background()).await
        {
            eprintln!("cleanup: deleting {} {name}: {err}", object["kind"]);
        }
    }
}

async fn delete_namespaces(client: &Client, names: &[&str]) {
    let api: Api<Namespace> = Api::all(client.clone());
    for name in names {
        let _ = api.delete(name, &DeleteParams::background()).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tekton_crds_and_objects_apply_to_the_control_plane() -> Result<()> {
    let Some(path) = kubeconfig_path("tekton_crds_and_objects_apply_to_the_control_plane") else {
        return Ok(());
    };
    let client = client_from(&path).await?;
    let crds = apply_crds(&client).await?;
    eprintln!("established: {}", crds.join(", "));

    let suffix = common::unique_suffix();
    let placement = Placement {
        namespace: format!("tk-objects-{suffix}"),
        channels_namespace: format!("tk-channels-{suffix}"),
        suffix: suffix.clone(),
    };
    create_namespace(&client, &placement.namespace).await?;
    create_namespace(&client, &placement.channels_namespace).await?;
    let mut applied = Vec::new();
    let outcome = async {
        let files = tekton_files()?;
        // Everything namespaced first, then the RBAC checks, then the optional files (they widen
        // the rights on purpose).
        let (optional_files, files): (Vec<_>, Vec<_>) = files.into_iter().partition(|p| {
            p.ends_with("rbac-create-namespace.yaml")
                || p.ends_with("rbac-artifact-credentials-from-env.yaml")
        });
        let (cluster_files, from_env_files): (Vec<_>, Vec<_>) = optional_files
            .into_iter()
            .partition(|p| p.ends_with("rbac-create-namespace.yaml"));
        for file in &files {
            applied.extend(apply_file(&client, &placement, file).await?);
        }
        let kinds: BTreeMap<String, usize> = applied.iter().fold(BTreeMap::new(), |mut m, o| {
            *m.entry(o["kind"].as_str().unwrap_or_default().to_string())
                .or_default() += 1;
            m
        });
        eprintln!("applied: {kinds:?}");
        for (kind, least) in [
            ("Task", 3),
            ("Pipeline", 1),
            ("PipelineRun", 1),
            ("Role", 2),
            ("RoleBinding", 2),
            ("ServiceAccount", 1),
        ] {
            ensure!(
                kinds.get(kind).copied().unwrap_or(0) >= least,
                "expected at least {least} {kind} in tekton/, applied {kinds:?}"
            );
        }
        check_namespaced_rbac(&client, &placement).await?;

        let user = placement.user();
        // --artifact-credentials from-env: the job's own Secret is written, read and deleted by
        // name; Secrets are still never listed or watched.
        for file in &from_env_files {
            applied.extend(apply_file(&client, &placement, file).await?);
        }
        let ns = Some(placement.namespace.as_str());
        for verb in ["create", "patch", "get", "delete"] {
            ensure!(
                allowed(&client, &user, verb, "", "secrets", ns).await?,
                "rbac-artifact-credentials-from-env.yaml does not let {user} {verb} secrets"
            );
        }
        for verb in ["list", "watch"] {
            ensure!(
                !allowed(&client, &user, verb, "", "secrets", ns).await?,
                "rbac-artifact-credentials-from-env.yaml lets {user} {verb} secrets"
            );
        }
        for file in &cluster_files {
            applied.extend(apply_file(&client, &placement, file).await?);
        }
        ensure!(
            allowed(&client, &user, "create", "", "namespaces", None).await?,
            "rbac-create-namespace.yaml does not let {user} create namespaces"
        );
        for verb in ["patch", "delete", "update"] {
            ensure!(
                !allowed(&client, &user, verb, "", "namespaces", None).await?,
                "rbac-create-namespace.yaml lets {user} {verb} namespaces"
            );
        }
        Ok::<(), anyhow::Error>(())
    }
    .await;
    delete_objects(&client, &applied).await;
    delete_namespaces(
        &client,
        &[&placement.namespace, &placement.channels_namespace],
    )
    .await;
    outcome
}

// -------------------------------------------------------------------------------------------------
// The RBAC proof: the real binary as the task ServiceAccount, configured like the Task steps.
// -------------------------------------------------------------------------------------------------

/// A copy of the kubeconfig whose users impersonate `user`.
/// The kubeconfig acting as the ServiceAccount `user` of `namespace`. Its context names that
/// namespace, as a Task pod's in-cluster config does: it is the executor's own namespace, where
/// install looks for the `modelops-globals` ConfigMap.
fn impersonating_kubeconfig(
    path: &str,
    user: &str,
    namespace: &str,
    dir: &Path,
) -> Result<PathBuf> {
    let text = std::fs::read_to_string(path)?;
    let mut config: Value = serde_norway::from_str(&text)?;
    for entry in config["users"].as_array_mut().context("kubeconfig users")? {
        entry["user"]["as"] = json!(user);
    }
    for entry in config["contexts"]
        .as_array_mut()
        .context("kubeconfig contexts")?
    {
        entry["context"]["namespace"] = json!(namespace);
    }
    let out = dir.join("kubeconfig-as-service-account");
    std::fs::write(&out, serde_norway::to_string(&config)?)?;
    Ok(out)
}

/// A Task step's command line: arguments and environment.
type Step = (Vec<String>, Vec<(String, String)>);

/// The environment and arguments a Tekton Task step runs the binary with: `$(params.*)`
/// substituted from the given values, else the Task's defaults; `valueFrom.fieldRef` from
/// `pod_fields` (`(fieldPath, value)`).
fn task_step(
    task_file: &str,
    values: &[(&str, &str)],
    pod_fields: &[(&str, &str)],
    results_dir: &Path,
) -> Result<Step> {
    let task = documents(&root().join("tekton").join(task_file))?.remove(0);
    let mut params: BTreeMap<String, Value> = BTreeMap::new();
    for spec in task["spec"]["params"].as_array().context("params")? {
        if let Some(default) = spec.get("default") {
            params.insert(spec["name"].as_str().unwrap().to_string(), default.clone());
        }
    }
    for (name, value) in values {
        ensure!(
            params.contains_key(*name)
                || task["spec"]["params"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|p| p["name"] == *name),
            "{task_file} has no parameter {name}"
        );
        params.insert(name.to_string(), json!(value));
    }
    let substitute = |text: &str| -> Result<String> {
        let mut out = text.to_string();
        for (name, value) in &params {
            if let Some(value) = value.as_str() {
                out = out.replace(&format!("$(params.{name})"), value);
            }
        }
        ensure!(
            !out.contains("$(params."),
            "{task_file}: unresolved parameter in {text}"
        );
        Ok(out)
    };
    let step = &task["spec"]["steps"][0];
    let mut args = Vec::new();
    for arg in step["args"].as_array().context("args")? {
        let arg = arg.as_str().context("arg")?;
        match arg
            .strip_prefix("$(params.")
            .and_then(|a| a.strip_suffix("[*])"))
        {
            Some(array) => args.extend(
                params[array]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|v| v.as_str().map(str::to_string)),
            ),
            None => args.push(substitute(arg)?),
        }
    }
    let mut env = Vec::new();
    for var in step["env"].as_array().context("env")? {
        let name = var["name"].as_str().context("env name")?.to_string();
        let value = match var["valueFrom"]["fieldRef"]["fieldPath"].as_str() {
            // The pod's fields (Tekton's labels): what this test's "pod" has, else empty, as the
            // downward API gives for a missing label.
            Some(field) => pod_fields
                .iter()
                .find(|(path, _)| *path == field)
                .map(|(_, value)| value.to_string())
                .unwrap_or_default(),
            None => substitute(var["value"].as_str().context("env value")?)?,
        };
        let value = if name == "MODELOPS_RESULTS_DIR" {
            results_dir.display().to_string()
        } else {
            value
        };
        env.push((name, value));
    }
    Ok((args, env))
}

fn run_step(kubeconfig: &Path, args: &[String], env: &[(String, String)]) -> Output {
    let mut command = Command::new(BIN);
    command
        .args(args)
        .current_dir(root())
        .env("KUBECONFIG", kubeconfig)
        .env_remove("RUST_LOG");
    for (name, _) in std::env::vars() {
        if name.starts_with("MODELOPS_") {
            command.env_remove(name);
        }
    }
    command.envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let output = command.output().expect("the binary runs");
    eprintln!(
        "$ {} modelops-executor {}\n{}",
        env.iter()
            .map(|(k, v)| format!("{k}={v:?}"))
            .collect::<Vec<_>>()
            .join(" "),
        args.join(" "),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

fn result(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(name)).unwrap_or_default()
}

/// Issue 5's RBAC proof: with only tekton/rbac.yaml and rbac-datachannels.yaml, the task
/// ServiceAccount runs a whole batch job through the three Task steps (their exact environment,
/// the Task defaults for every parameter the Pipeline does not set), and is refused in a
/// namespace where it has no Role.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn task_service_account_runs_install_wait_finally() -> Result<()> {
    let Some(path) = kubeconfig_path("task_service_account_runs_install_wait_finally") else {
        return Ok(());
    };
    let client = client_from(&path).await?;
    let suffix = common::unique_suffix();
    let placement = Placement {
        namespace: format!("tk-rbac-{suffix}"),
        channels_namespace: format!("tk-rbac-channels-{suffix}"),
        suffix: suffix.clone(),
    };
    let elsewhere = format!("tk-rbac-none-{suffix}");
    for ns in [
        &placement.namespace,
        &placement.channels_namespace,
        &elsewhere,
    ] {
        create_namespace(&client, ns).await?;
    }
    let mut applied = Vec::new();
    let outcome = async {
        for file in ["rbac.yaml", "rbac-datachannels.yaml"] {
            applied
                .extend(apply_file(&client, &placement, &root().join("tekton").join(file)).await?);
        }
        common::register_channels(&client, &placement.channels_namespace, MANAGER).await?;
        common::ensure_windows_node(&client, MANAGER).await?;
        // The Task's default: the scoring services read the platform's Secret, which install
        // checks with `get` on that one name.
        common::provide_artifact_credentials(&client, &placement.namespace, MANAGER).await?;
        let tmp = tempfile::tempdir()?;
        let kubeconfig =
            impersonating_kubeconfig(&path, &placement.user(), &placement.namespace, tmp.path())?;
        // The platform's globals in the executor's (the Pipeline's) namespace, which the Role
        // lets it read: an executor image tag (the init containers' image) that neither the
        // Task's globals file nor the chart defaults override.
        let platform = json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "modelops-globals", "namespace": placement.namespace},
            "data": {"globals.yaml": "images: {executor: {tag: platform-1}}\n"},
        });
        Api::<ConfigMap>::namespaced(client.clone(), &placement.namespace)
            .patch(
                "modelops-globals",
                &PatchParams::apply(MANAGER).force(),
                &Patch::Apply(&platform),
            )
            .await?;
        let results = tmp.path().join("results");
        let job_id = format!("rbac-{suffix}");

        // What the Pipeline passes; every other parameter keeps the Task's default.
        let (args, env) = task_step(
            "task-install.yaml",
            &[
                ("ir-url", "examples/batch-fraud"),
                ("job-id", &job_id),
                ("namespace", &placement.namespace),
                ("channels-namespace", &placement.channels_namespace),
                ("globals", "examples/globals.yaml"),
                ("timeout", "90s"),
                ("log-format", "text"),
            ],
            &[],
            &results,
        )?;
        let install = run_step(&kubeconfig, &args, &env);
        ensure!(
            install.status.success(),
            "install as {} failed: {}",
            placement.user(),
            String::from_utf8_lossy(&install.stderr)
        );
        ensure!(result(&results, "job-id") == job_id, "job-id result");
        ensure!(
            result(&results, "phase") == "Installed",
            "phase result after install: {}",
            result(&results, "phase")
        );
        ensure!(
            result(&results, "values-digest").len() == 64,
            "values-digest result"
        );
        let deployments: Api<k8s_openapi::api::apps::v1::Deployment> =
            Api::namespaced(client.clone(), &placement.namespace);
        let tools: Vec<String> = deployments
            .list(&kube::api::ListParams::default().labels(&format!("modelops.io/job-id={job_id}")))
            .await?
            .items
            .into_iter()
            .flat_map(|d| d.spec.and_then(|s| s.template.spec))
            .flat_map(|s| s.init_containers.unwrap_or_default())
            .filter_map(|c| c.image)
            .filter(|i| i.contains("/modelops-executor:"))
            .collect();
        ensure!(
            !tools.is_empty() && tools.iter().all(|i| i.ends_with(":platform-1")),
            "the modelops-globals ConfigMap did not reach the scoring services: {tools:?}"
        );

        // Its globals ConfigMap in a namespace it may not read: refused before anything is
        // written, and the message says what to do.
        let (args, env) = task_step(
            "task-install.yaml",
            &[
                ("ir-url", "examples/batch-fraud"),
                ("job-id", &format!("{job_id}-g")),
                ("namespace", &placement.namespace),
                ("channels-namespace", &placement.channels_namespace),
                ("globals-namespace", &elsewhere),
                ("timeout", "30s"),
                ("log-format", "text"),
            ],
            &[],
            &results,
        )?;
        let refused = run_step(&kubeconfig, &args, &env);
        let stderr = String::from_utf8_lossy(&refused.stderr);
        ensure!(
            refused.status.code() == Some(3),
            "reading modelops-globals in {elsewhere} should fail with exit 3, got {:?}: {stderr}",
            refused.status.code()
        );
        ensure!(
            stderr.contains(&format!(
                "not allowed to read ConfigMap {elsewhere}/modelops-globals"
            )) && stderr.contains("--globals-configmap=false")
                && stderr.contains("forbidden"),
            "the refusal should name the ConfigMap and the way out: {stderr}"
        );
        let records: Api<ConfigMap> = Api::namespaced(client.clone(), &placement.namespace);
        ensure!(
            records
                .get_opt(&format!("modelops-job-{job_id}-g"))
                .await?
                .is_none(),
            "a job record was written despite the refusal"
        );

        let job = [
            ("job-id", job_id.as_str()),
            ("namespace", placement.namespace.as_str()),
            ("timeout", "90s"),
            ("log-format", "text"),
        ];
        let (args, env) = task_step("task-wait.yaml", &job, &[], &results)?;
        let wait = run_step(&kubeconfig, &args, &env);
        ensure!(
            wait.status.success(),
            "wait as the ServiceAccount failed: {}",
            String::from_utf8_lossy(&wait.stderr)
        );
        ensure!(
            result(&results, "phase") == "Succeeded",
            "phase result after wait: {}",
            result(&results, "phase")
        );

        let (args, env) = task_step("task-finally.yaml", &job, &[], &results)?;
        let finally = run_step(&kubeconfig, &args, &env);
        ensure!(
            finally.status.success(),
            "finally as the ServiceAccount failed: {}",
            String::from_utf8_lossy(&finally.stderr)
        );
        ensure!(
            result(&results, "phase") == "Uninstalled",
            "phase result after finally"
        );
        let left: Api<ConfigMap> = Api::namespaced(client.clone(), &placement.namespace);
        let left = left
            .list(&kube::api::ListParams::default().labels(&format!("modelops.io/job-id={job_id}")))
            .await?;
        ensure!(
            left.items.is_empty(),
            "finally left {} ConfigMaps",
            left.items.len()
        );

        // Outside its Role the same identity is refused, and says so.
        let (args, env) = task_step(
            "task-install.yaml",
            &[
                ("ir-url", "examples/batch-fraud"),
                ("job-id", &format!("{job_id}-x")),
                ("namespace", &elsewhere),
                ("channels-namespace", &placement.channels_namespace),
                ("timeout", "30s"),
            ],
            &[],
            &results,
        )?;
        let refused = run_step(&kubeconfig, &args, &env);
        let stderr = String::from_utf8_lossy(&refused.stderr);
        ensure!(
            refused.status.code() == Some(3),
            "install into {elsewhere} should fail with exit 3 (cluster error), got {:?}: {stderr}",
            refused.status.code()
        );
        ensure!(
            stderr.contains("forbidden") || stderr.contains("Forbidden"),
            "the refusal should say forbidden: {stderr}"
        );
        ensure!(
            !result(&results, "error").is_empty(),
            "the error result names the refusal"
        );
        Ok::<(), anyhow::Error>(())
    }
    .await;
    delete_objects(&client, &applied).await;
    delete_namespaces(
        &client,
        &[
            &placement.namespace,
            &placement.channels_namespace,
            &elsewhere,
        ],
    )
    .await;
    outcome
}

/// `cancel --job-id` (issue 12 item 4): a job whose install ran in a PipelineRun is cancelled
/// through that run (`spec.status: CancelledRunFinally`, so Tekton runs finally), and left to it;
/// once the run has ended, `cancel` marks the job Cancelled and removes it itself; repeating it is
/// harmless, and an unknown job is an error. The canceller is a user with the two Roles
/// tekton/rbac-cancel.yaml says to bind. The PipelineRun is created pending, so a Tekton
/// controller (if one runs on this cluster) does not start it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_goes_through_the_pipeline_run_else_removes_the_job() -> Result<()> {
    let Some(path) = kubeconfig_path("cancel_goes_through_the_pipeline_run_else_removes_the_job")
    else {
        return Ok(());
    };
    let client = client_from(&path).await?;
    apply_crds(&client).await?;
    let suffix = common::unique_suffix();
    let placement = Placement {
        namespace: format!("tk-cancel-{suffix}"),
        channels_namespace: format!("tk-cancel-channels-{suffix}"),
        suffix: suffix.clone(),
    };
    for ns in [&placement.namespace, &placement.channels_namespace] {
        create_namespace(&client, ns).await?;
    }
    let mut applied = Vec::new();
    let outcome = async {
        for file in ["rbac.yaml", "rbac-datachannels.yaml", "rbac-cancel.yaml"] {
            applied
                .extend(apply_file(&client, &placement, &root().join("tekton").join(file)).await?);
        }
        common::register_channels(&client, &placement.channels_namespace, MANAGER).await?;
        common::provide_artifact_credentials(&client, &placement.namespace, MANAGER).await?;
        common::ensure_windows_node(&client, MANAGER).await?;
        let ns = placement.namespace.as_str();
        let canceller = "canceller@example.com";
        let bindings: Api<DynamicObject> = Api::namespaced_with(
            client.clone(),
            ns,
            &kube::api::ApiResource::from_gvk(&GroupVersionKind::gvk(
                "rbac.authorization.k8s.io",
                "v1",
                "RoleBinding",
            )),
        );
        for role in ["modelops-cancel", "modelops-executor"] {
            let binding = json!({
                "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                "metadata": {"name": format!("{role}-canceller"), "namespace": ns},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": role},
                "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": canceller}],
            });
            bindings
                .patch(
                    &format!("{role}-canceller"),
                    &PatchParams::apply(MANAGER).force(),
                    &Patch::Apply(&binding),
                )
                .await?;
        }
        let runs: Api<DynamicObject> = Api::namespaced_with(
            client.clone(),
            ns,
            &kube::api::ApiResource::from_gvk(&GroupVersionKind::gvk(
                "tekton.dev",
                "v1",
                "PipelineRun",
            )),
        );
        let run_name = format!("scoring-{suffix}");
        let run = json!({
            "apiVersion": "tekton.dev/v1", "kind": "PipelineRun",
            "metadata": {"name": run_name, "namespace": ns},
            "spec": {"pipelineRef": {"name": "modelops-scoring"}, "status": "PipelineRunPending",
                     "params": [{"name": "ir-url", "value": "examples/batch-fraud"}]},
        });
        runs.create(&PostParams::default(), &serde_json::from_value(run)?)
            .await?;

        // Install as the Task does inside that PipelineRun (its pod carries Tekton's label).
        let tmp = tempfile::tempdir()?;
        let task_identity = tmp.path().join("task");
        let person = tmp.path().join("person");
        std::fs::create_dir_all(&task_identity)?;
        std::fs::create_dir_all(&person)?;
        let as_task = impersonating_kubeconfig(&path, &placement.user(), ns, &task_identity)?;
        let as_canceller = impersonating_kubeconfig(&path, canceller, ns, &person)?;
        let results = tmp.path().join("results");
        let job_id = format!("cancel-{suffix}");
        let (args, env) = task_step(
            "task-install.yaml",
            &[
                ("ir-url", "examples/batch-fraud"),
                ("job-id", &job_id),
                ("namespace", ns),
                ("channels-namespace", &placement.channels_namespace),
                ("globals", "examples/globals.yaml"),
                ("timeout", "90s"),
                ("log-format", "text"),
            ],
            &[("metadata.labels['tekton.dev/pipelineRun']", &run_name)],
            &results,
        )?;
        let install = run_step(&as_task, &args, &env);
        ensure!(
            install.status.success(),
            "install failed: {}",
            String::from_utf8_lossy(&install.stderr)
        );
        let records: Api<ConfigMap> = Api::namespaced(client.clone(), ns);
        let record = |cm: ConfigMap| cm.data.unwrap_or_default();
        let data = record(records.get(&format!("modelops-job-{job_id}")).await?);
        ensure!(
            data.get("pipelineRun").map(String::as_str) == Some(&format!("{ns}/{run_name}")),
            "the record does not name the PipelineRun: {data:?}"
        );
        let labelled = kube::api::ListParams::default().labels(&format!("modelops.io/job-id={job_id}"));
        let configmaps: Api<ConfigMap> = Api::namespaced(client.clone(), ns);
        let objects = || async { configmaps.list(&labelled).await.map(|list| list.items.len()) };
        ensure!(objects().await? > 0, "install applied nothing");

        let cancel = ["cancel", "--job-id", job_id.as_str(), "--namespace", ns, "--log-format", "text"]
            .map(str::to_string);
        // 1. The run is live: it is cancelled gracefully and the job left to its finally task.
        let first = run_step(&as_canceller, &cancel, &[]);
        ensure!(
            first.status.success(),
            "cancel failed: {}",
            String::from_utf8_lossy(&first.stderr)
        );
        let stored = serde_json::to_value(runs.get(&run_name).await?)?;
        ensure!(
            stored["spec"]["status"] == "CancelledRunFinally",
            "the PipelineRun was not cancelled: {}",
            stored["spec"]
        );
        let data = record(records.get(&format!("modelops-job-{job_id}")).await?);
        ensure!(
            data["phase"] == "Installed" && objects().await? > 0,
            "cancel touched the job although the PipelineRun's finally removes it: {data:?}"
        );

        // 2. The run has ended (as Tekton marks it) without removing the job: cancel removes it.
        let ended = json!({"status": {"conditions": [{"type": "Succeeded", "status": "False",
            "reason": "Cancelled", "message": "cancelled", "lastTransitionTime": "2026-11-30T00:00:00Z"}]}});
        runs.patch_status(&run_name, &PatchParams::default(), &Patch::Merge(&ended))
            .await?;
        let second = run_step(&as_canceller, &cancel, &[]);
        ensure!(
            second.status.success(),
            "cancel after the run ended failed: {}",
            String::from_utf8_lossy(&second.stderr)
        );
        let data = record(records.get(&format!("modelops-job-{job_id}")).await?);
        ensure!(
            data["phase"] == "Uninstalled"
                && data.get("lastError").is_some_and(|e| e.contains("cancelled")),
            "the record does not say cancelled and removed: {data:?}"
        );
        ensure!(
            objects().await? == 0,
            "objects of the job are left"
        );

        // 3. Again: nothing to do. 4. An unknown job: an error that names it.
        let third = run_step(&as_canceller, &cancel, &[]);
        ensure!(third.status.success(), "a repeated cancel failed");
        let unknown = ["cancel", "--job-id", "no-such-job", "--namespace", ns].map(str::to_string);
        let unknown = run_step(&as_canceller, &unknown, &[]);
        let stderr = String::from_utf8_lossy(&unknown.stderr);
        ensure!(
            !unknown.status.success() && stderr.contains("modelops-job-no-such-job"),
            "cancel of an unknown job: {:?} {stderr}",
            unknown.status.code()
        );
        Ok::<(), anyhow::Error>(())
    }
    .await;
    delete_objects(&client, &applied).await;
    delete_namespaces(
        &client,
        &[&placement.namespace, &placement.channels_namespace],
    )
    .await;
    outcome
}
