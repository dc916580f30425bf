//! Readiness rules: pure functions from an object (and, for workloads, its pods) to a verdict,
//! in the spirit of kube-runtime's `wait.rs` and Helm's `ready.go`, but stricter where those
//! report false success: nothing is judged before `status.observedGeneration` has caught up, and
//! a custom resource without status is in progress, never ready. Failures that will not heal by
//! waiting are reported at once with their reason (README.md, Lifecycle guarantees).

mod conditions;
mod pod;
mod verdict;
pub mod watched;

pub(crate) use conditions::condition;
use conditions::condition_message;
pub use pod::pod;
pub use verdict::{Policy, Readiness};

use serde_json::Value;

/// Judges an object by its kind. `now` is seconds since the epoch (for grace periods).
pub fn object(object: &Value) -> Readiness {
    match kind(object) {
        "Deployment" => deployment(object),
        "StatefulSet" => statefulset(object),
        "DaemonSet" => daemonset(object),
        "Job" => job(object),
        "Service" => service(object),
        "PersistentVolumeClaim" => pvc(object),
        "CustomResourceDefinition" => crd(object),
        "SeldonDeployment" => seldon(object),
        "InferenceService" => kserve(object),
        "Pod" => pod(object, &Policy::default(), None),
        kind if crate::k8s::kinds::is_plain_data(kind) => Readiness::Ready,
        _ => custom_resource(object),
    }
}

/// What the rules read of any object; `/status` stands for the whole status except on pods.
const KEPT: [&str; 10] = [
    "/kind",
    "/metadata/name",
    "/metadata/generation",
    "/metadata/creationTimestamp",
    "/spec/replicas",
    "/spec/completions",
    "/spec/backoffLimit",
    "/spec/type",
    "/spec/updateStrategy/type",
    "/status",
];
/// What the pod rules (and the choice of the container whose logs explain a failure) read.
const POD_STATUS_KEPT: [&str; 6] = [
    "phase",
    "reason",
    "message",
    "conditions",
    "initContainerStatuses",
    "containerStatuses",
];
const CONTAINER_STATUS_KEPT: [&str; 5] = ["name", "ready", "restartCount", "state", "lastState"];

/// The parts of an object that the rules in this module read, moved out of it: a watcher can
/// keep hundreds of Jobs and pods without their `managedFields`, pod specs, images and IPs, which
/// are nearly all of their size. Judging the result gives the same verdict as judging the whole
/// object.
pub fn essentials(mut object: Value) -> Value {
    let mut kept = Value::Object(serde_json::Map::new());
    for pointer in KEPT {
        if let Some(value) = object.pointer_mut(pointer).map(Value::take)
            && !value.is_null()
        {
            insert(&mut kept, pointer, value);
        }
    }
    if kind(&kept) == "Pod"
        && let Some(status) = kept.get_mut("status").and_then(Value::as_object_mut)
    {
        status.retain(|key, _| POD_STATUS_KEPT.contains(&key.as_str()));
        for list in ["initContainerStatuses", "containerStatuses"] {
            for container in status
                .get_mut(list)
                .and_then(Value::as_array_mut)
                .into_iter()
                .flatten()
                .filter_map(Value::as_object_mut)
            {
                container.retain(|key, _| CONTAINER_STATUS_KEPT.contains(&key.as_str()));
            }
        }
    }
    kept
}

/// Sets `value` at a JSON pointer of plain keys, creating the objects on the way.
fn insert(target: &mut Value, pointer: &str, value: Value) {
    let mut keys = pointer.trim_start_matches('/').split('/').peekable();
    let mut here = target;
    while let Some(key) = keys.next() {
        let Value::Object(map) = here else { return };
        if keys.peek().is_none() {
            map.insert(key.to_string(), value);
            return;
        }
        here = map
            .entry(key)
            .or_insert_with(|| Value::Object(serde_json::Map::new()));
    }
}

pub(crate) fn kind(object: &Value) -> &str {
    object
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or_default()
}

fn int(object: &Value, pointer: &str) -> Option<i64> {
    object.pointer(pointer).and_then(Value::as_i64)
}

fn text<'v>(object: &'v Value, pointer: &str) -> Option<&'v str> {
    object.pointer(pointer).and_then(Value::as_str)
}

fn condition_is(object: &Value, kind: &str, status: &str) -> bool {
    condition(object, kind)
        .and_then(|c| c.get("status"))
        .and_then(Value::as_str)
        == Some(status)
}

/// `Some(InProgress)` while the controller has not yet seen the latest spec.
fn generation_pending(object: &Value) -> Option<Readiness> {
    let generation = int(object, "/metadata/generation")?;
    match int(object, "/status/observedGeneration") {
        Some(observed) if observed >= generation => None,
        _ => Some(Readiness::InProgress(format!(
            "waiting for the controller to observe generation {generation}"
        ))),
    }
}

pub fn deployment(object: &Value) -> Readiness {
    if let Some(pending) = generation_pending(object) {
        return pending;
    }
    if let Some(progressing) = condition(object, "Progressing")
        && progressing.get("reason").and_then(Value::as_str) == Some("ProgressDeadlineExceeded")
    {
        return Readiness::Failed(format!(
            "rollout stalled: {}",
            condition_message(progressing)
        ));
    }
    let wanted = int(object, "/spec/replicas").unwrap_or(1);
    let updated = int(object, "/status/updatedReplicas").unwrap_or(0);
    let total = int(object, "/status/replicas").unwrap_or(0);
    let available = int(object, "/status/availableReplicas").unwrap_or(0);
    if updated < wanted {
        return Readiness::InProgress(format!("{updated}/{wanted} replicas updated"));
    }
    if total > updated {
        return Readiness::InProgress(format!(
            "{} old replicas pending termination",
            total - updated
        ));
    }
    if available < updated {
        return Readiness::InProgress(format!("{available}/{wanted} replicas available"));
    }
    Readiness::Ready
}

pub fn statefulset(object: &Value) -> Readiness {
    if let Some(pending) = generation_pending(object) {
        return pending;
    }
    let wanted = int(object, "/spec/replicas").unwrap_or(1);
    let ready = int(object, "/status/readyReplicas").unwrap_or(0);
    let updated = int(object, "/status/updatedReplicas").unwrap_or(0);
    let rolling =
        text(object, "/spec/updateStrategy/type").unwrap_or("RollingUpdate") == "RollingUpdate";
    if rolling
        && text(object, "/status/updateRevision") != text(object, "/status/currentRevision")
        && updated < wanted
    {
        return Readiness::InProgress(format!("{updated}/{wanted} replicas updated"));
    }
    if ready < wanted {
        return Readiness::InProgress(format!("{ready}/{wanted} replicas ready"));
    }
    Readiness::Ready
}

pub fn daemonset(object: &Value) -> Readiness {
    if let Some(pending) = generation_pending(object) {
        return pending;
    }
    let wanted = int(object, "/status/desiredNumberScheduled").unwrap_or(0);
    let available = int(object, "/status/numberAvailable").unwrap_or(0);
    let updated = int(object, "/status/updatedNumberScheduled").unwrap_or(0);
    if updated < wanted || available < wanted {
        return Readiness::InProgress(format!("{available}/{wanted} pods available"));
    }
    Readiness::Ready
}

/// A Job is ready when it has completed: for batch scoring, "ready" means "done".
pub fn job(object: &Value) -> Readiness {
    for failed in ["Failed", "FailureTarget"] {
        if condition_is(object, failed, "True") {
            let condition = condition(object, failed).expect("just found");
            return Readiness::Failed(format!("job failed: {}", condition_message(condition)));
        }
    }
    if condition_is(object, "Complete", "True") {
        return Readiness::Ready;
    }
    let completions = int(object, "/spec/completions").unwrap_or(1);
    let succeeded = int(object, "/status/succeeded").unwrap_or(0);
    let active = int(object, "/status/active").unwrap_or(0);
    let failed = int(object, "/status/failed").unwrap_or(0);
    let backoff = int(object, "/spec/backoffLimit").unwrap_or(6);
    let mut text = format!("{succeeded}/{completions} completions, {active} active");
    if failed > 0 {
        text.push_str(&format!(", {failed} failed (backoff limit {backoff})"));
    }
    Readiness::InProgress(text)
}

pub fn service(object: &Value) -> Readiness {
    if text(object, "/spec/type") == Some("LoadBalancer") {
        let ingress = object
            .pointer("/status/loadBalancer/ingress")
            .and_then(Value::as_array);
        if ingress.is_none_or(|i| i.is_empty()) {
            return Readiness::InProgress("waiting for a load balancer address".to_string());
        }
    }
    Readiness::Ready
}

pub fn pvc(object: &Value) -> Readiness {
    match text(object, "/status/phase") {
        Some("Bound") => Readiness::Ready,
        Some("Lost") => Readiness::Failed("the claim lost its volume".to_string()),
        phase => Readiness::InProgress(format!("claim is {}", phase.unwrap_or("Pending"))),
    }
}

pub fn crd(object: &Value) -> Readiness {
    if condition_is(object, "NamesAccepted", "False") {
        return Readiness::Failed(format!(
            "names not accepted: {}",
            condition_message(condition(object, "NamesAccepted").expect("found"))
        ));
    }
    if condition_is(object, "Established", "True") {
        Readiness::Ready
    } else {
        Readiness::InProgress("waiting to be Established".to_string())
    }
}

/// SeldonDeployment: `status.state` is Available, Creating or Failed.
pub fn seldon(object: &Value) -> Readiness {
    if object.get("status").is_none() {
        return Readiness::InProgress("no status yet".to_string());
    }
    let description = text(object, "/status/description").unwrap_or_default();
    match text(object, "/status/state") {
        Some("Available") => Readiness::Ready,
        Some("Failed") => Readiness::Failed(format!("SeldonDeployment failed: {description}")),
        state => Readiness::InProgress(format!("state {}", state.unwrap_or("unknown"))),
    }
}

/// KServe InferenceService: the Ready condition, and the model's load state.
pub fn kserve(object: &Value) -> Readiness {
    if object.get("status").is_none() {
        return Readiness::InProgress("no status yet".to_string());
    }
    if let Some(pending) = generation_pending(object) {
        return pending;
    }
    if text(object, "/status/modelStatus/states/targetModelState") == Some("FailedToLoad")
        || text(object, "/status/modelStatus/states/activeModelState") == Some("FailedToLoad")
    {
        let info = object.pointer("/status/modelStatus/lastFailureInfo");
        let message = info
            .and_then(|i| i.get("message"))
            .and_then(Value::as_str)
            .unwrap_or("no message");
        let reason = info
            .and_then(|i| i.get("reason"))
            .and_then(Value::as_str)
            .unwrap_or("FailedToLoad");
        return Readiness::Failed(format!("model failed to load: {reason}: {message}"));
    }
    match condition(object, "Ready") {
        Some(ready) if ready.get("status").and_then(Value::as_str) == Some("True") => {
            Readiness::Ready
        }
        // Ready=False with a reason is a failure KServe has decided on; without one it is converging.
        Some(ready)
            if ready.get("status").and_then(Value::as_str) == Some("False")
                && ready.get("reason").is_some() =>
        {
            Readiness::Failed(format!(
                "InferenceService not ready: {}",
                condition_message(ready)
            ))
        }
        _ => Readiness::InProgress("waiting for Ready".to_string()),
    }
}

/// Any other custom resource: without status it is in progress; with conditions, Ready or
/// Available decides and a Failed/Stalled condition fails.
pub fn custom_resource(object: &Value) -> Readiness {
    if object
        .get("status")
        .is_none_or(|s| s.as_object().is_none_or(|m| m.is_empty()))
    {
        return Readiness::InProgress("no status yet".to_string());
    }
    if let Some(pending) = generation_pending(object) {
        return pending;
    }
    for failed in ["Failed", "Stalled"] {
        if condition_is(object, failed, "True") {
            return Readiness::Failed(condition_message(condition(object, failed).expect("found")));
        }
    }
    for ready in ["Ready", "Available"] {
        if condition_is(object, ready, "True") {
            return Readiness::Ready;
        }
    }
    Readiness::InProgress("waiting for a Ready condition".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yaml(text: &str) -> Value {
        crate::yaml::parse_one(text).unwrap()
    }

    #[test]
    fn deployment_waits_for_observed_generation() {
        // Every replica count looks fine, but the controller has not seen generation 2 yet:
        // tools that skip this check report a stale success.
        let d = yaml(
            "kind: Deployment\nmetadata: {generation: 2}\nspec: {replicas: 1}\nstatus: {observedGeneration: 1, replicas: 1, updatedReplicas: 1, availableReplicas: 1}",
        );
        assert!(matches!(deployment(&d), Readiness::InProgress(t) if t.contains("generation 2")));
    }

    #[test]
    fn deployment_counts_replicas() {
        let d = yaml(
            "kind: Deployment\nmetadata: {generation: 1}\nspec: {replicas: 2}\nstatus: {observedGeneration: 1, replicas: 3, updatedReplicas: 2, availableReplicas: 2}",
        );
        assert_eq!(
            deployment(&d),
            Readiness::InProgress("1 old replicas pending termination".into())
        );
        let d = yaml(
            "kind: Deployment\nmetadata: {generation: 1}\nspec: {replicas: 2}\nstatus: {observedGeneration: 1, replicas: 2, updatedReplicas: 2, availableReplicas: 1}",
        );
        assert_eq!(
            deployment(&d),
            Readiness::InProgress("1/2 replicas available".into())
        );
        let d = yaml(
            "kind: Deployment\nmetadata: {generation: 1}\nspec: {replicas: 2}\nstatus: {observedGeneration: 1, replicas: 2, updatedReplicas: 2, availableReplicas: 2}",
        );
        assert_eq!(object(&d), Readiness::Ready);
        let none = yaml(
            "kind: Deployment\nmetadata: {generation: 1}\nspec: {replicas: 2}\nstatus: {observedGeneration: 1}",
        );
        assert_eq!(
            deployment(&none),
            Readiness::InProgress("0/2 replicas updated".into())
        );
    }

    #[test]
    fn deployment_progress_deadline_fails() {
        let d = yaml(
            "kind: Deployment\nmetadata: {generation: 1}\nspec: {replicas: 1}\nstatus:\n  observedGeneration: 1\n  conditions:\n  - {type: Progressing, status: 'False', reason: ProgressDeadlineExceeded, message: 'ReplicaSet \"x\" has timed out progressing.'}",
        );
        assert!(
            matches!(deployment(&d), Readiness::Failed(t) if t.contains("ProgressDeadlineExceeded"))
        );
    }

    #[test]
    fn statefulset_rules() {
        let s = yaml(
            "kind: StatefulSet\nmetadata: {generation: 1}\nspec: {replicas: 2}\nstatus: {observedGeneration: 1, readyReplicas: 1, updatedReplicas: 2, currentRevision: a, updateRevision: a}",
        );
        assert_eq!(
            statefulset(&s),
            Readiness::InProgress("1/2 replicas ready".into())
        );
        let s = yaml(
            "kind: StatefulSet\nmetadata: {generation: 1}\nspec: {replicas: 2}\nstatus: {observedGeneration: 1, readyReplicas: 2, updatedReplicas: 1, currentRevision: a, updateRevision: b}",
        );
        assert_eq!(
            statefulset(&s),
            Readiness::InProgress("1/2 replicas updated".into())
        );
        let s = yaml(
            "kind: StatefulSet\nmetadata: {generation: 1}\nspec: {replicas: 2}\nstatus: {observedGeneration: 1, readyReplicas: 2, updatedReplicas: 2, currentRevision: b, updateRevision: b}",
        );
        assert_eq!(statefulset(&s), Readiness::Ready);
    }

    #[test]
    fn job_complete_failed_running() {
        let complete = yaml(
            "kind: Job\nstatus:\n  succeeded: 1\n  conditions: [{type: Complete, status: 'True'}]",
        );
        assert_eq!(job(&complete), Readiness::Ready);
        let failed = yaml(
            "kind: Job\nstatus:\n  failed: 7\n  conditions: [{type: Failed, status: 'True', reason: BackoffLimitExceeded, message: Job has reached the specified backoff limit}]",
        );
        assert_eq!(
            job(&failed),
            Readiness::Failed(
                "job failed: BackoffLimitExceeded: Job has reached the specified backoff limit"
                    .into()
            )
        );
        let target = yaml(
            "kind: Job\nstatus:\n  conditions: [{type: FailureTarget, status: 'True', reason: DeadlineExceeded}]",
        );
        assert!(job(&target).is_failed());
        let running = yaml(
            "kind: Job\nspec: {completions: 3, backoffLimit: 2}\nstatus: {succeeded: 1, active: 2, failed: 1}",
        );
        assert_eq!(
            job(&running),
            Readiness::InProgress("1/3 completions, 2 active, 1 failed (backoff limit 2)".into())
        );
        // Completions reached but no Complete condition yet (success policy pending): not done.
        let racing = yaml("kind: Job\nspec: {completions: 1}\nstatus: {succeeded: 1}");
        assert!(!job(&racing).is_ready());
    }

    #[test]
    fn services_pvcs_and_crds() {
        assert_eq!(
            object(&yaml("kind: Service\nspec: {type: ClusterIP}")),
            Readiness::Ready
        );
        assert!(
            !service(&yaml(
                "kind: Service\nspec: {type: LoadBalancer}\nstatus: {loadBalancer: {}}"
            ))
            .is_ready()
        );
        assert_eq!(
            pvc(&yaml("kind: PersistentVolumeClaim\nstatus: {phase: Bound}")),
            Readiness::Ready
        );
        assert!(pvc(&yaml("kind: PersistentVolumeClaim\nstatus: {phase: Lost}")).is_failed());
        assert!(
            !pvc(&yaml(
                "kind: PersistentVolumeClaim\nstatus: {phase: Pending}"
            ))
            .is_ready()
        );
        let crd_ok = yaml(
            "kind: CustomResourceDefinition\nstatus:\n  conditions: [{type: NamesAccepted, status: 'True'}, {type: Established, status: 'True'}]",
        );
        assert_eq!(object(&crd_ok), Readiness::Ready);
        let crd_bad = yaml(
            "kind: CustomResourceDefinition\nstatus:\n  conditions: [{type: NamesAccepted, status: 'False', reason: MultipleNamesNotAllowed}]",
        );
        assert!(crd(&crd_bad).is_failed());
    }

    #[test]
    fn seldon_states() {
        assert!(
            !seldon(&yaml("kind: SeldonDeployment\nspec: {}")).is_ready(),
            "no status is not ready"
        );
        assert_eq!(
            seldon(&yaml("kind: SeldonDeployment\nstatus: {state: Available}")),
            Readiness::Ready
        );
        let failed = seldon(&yaml(
            "kind: SeldonDeployment\nstatus: {state: Failed, description: 'Cannot find field: foo'}",
        ));
        assert_eq!(
            failed,
            Readiness::Failed("SeldonDeployment failed: Cannot find field: foo".into())
        );
        assert!(matches!(
            seldon(&yaml("kind: SeldonDeployment\nstatus: {state: Creating}")),
            Readiness::InProgress(_)
        ));
    }

    #[test]
    fn kserve_conditions_and_model_status() {
        assert!(!kserve(&yaml("kind: InferenceService\nspec: {}")).is_ready());
        let ready = yaml(
            "kind: InferenceService\nmetadata: {generation: 1}\nstatus:\n  observedGeneration: 1\n  conditions: [{type: Ready, status: 'True'}]",
        );
        assert_eq!(object(&ready), Readiness::Ready);
        let failed_load = yaml(
            "kind: InferenceService\nstatus:\n  modelStatus:\n    states: {targetModelState: FailedToLoad}\n    lastFailureInfo: {reason: ModelLoadFailed, message: 'bad model'}\n  conditions: [{type: Ready, status: Unknown}]",
        );
        assert_eq!(
            kserve(&failed_load),
            Readiness::Failed("model failed to load: ModelLoadFailed: bad model".into())
        );
        let not_ready = yaml(
            "kind: InferenceService\nstatus:\n  conditions: [{type: Ready, status: 'False', reason: RevisionMissing, message: 'Configuration failed'}]",
        );
        assert!(kserve(&not_ready).is_failed());
        let converging =
            yaml("kind: InferenceService\nstatus:\n  conditions: [{type: Ready, status: 'False'}]");
        assert!(matches!(kserve(&converging), Readiness::InProgress(_)));
    }

    #[test]
    fn custom_resources_without_status_are_never_ready() {
        assert!(
            matches!(object(&yaml("kind: Widget\nspec: {}")), Readiness::InProgress(t) if t == "no status yet")
        );
        assert!(matches!(
            object(&yaml("kind: Widget\nstatus: {}")),
            Readiness::InProgress(_)
        ));
        assert_eq!(
            object(&yaml(
                "kind: Widget\nstatus:\n  conditions: [{type: Ready, status: 'True'}]"
            )),
            Readiness::Ready
        );
        assert!(object(&yaml("kind: Widget\nstatus:\n  conditions: [{type: Stalled, status: 'True', reason: Broken}]")).is_failed());
    }

    /// A Job and its pod as the API server returns them, abridged.
    const LIVE_JOB: &str = "kind: Job
metadata:
  name: flow-1
  generation: 1
  labels: {modelops.io/job-id: j}
  managedFields:
  - {manager: modelops-executor, operation: Apply, fieldsType: FieldsV1, fieldsV1: {'f:spec': {'f:template': {}}}}
spec:
  completions: 1
  backoffLimit: 2
  template: {spec: {containers: [{name: flow, image: 'flow:1', args: [--run]}]}}
status:
  active: 1
  failed: 1
  startTime: '2026-01-01T00:00:00Z'
";
    const LIVE_POD: &str = "kind: Pod
metadata:
  name: flow-1-abcde
  creationTimestamp: '2026-01-01T00:00:00Z'
  labels: {job-name: flow-1}
  ownerReferences: [{apiVersion: batch/v1, kind: Job, name: flow-1, uid: u1, controller: true}]
  managedFields: [{manager: kube-controller-manager, fieldsV1: {'f:metadata': {}}}]
spec:
  nodeName: kwok-node-0
  containers: [{name: flow, image: 'flow:1', env: [{name: A, value: b}]}]
status:
  phase: Running
  hostIP: 10.0.0.1
  podIPs: [{ip: 10.0.0.2}]
  qosClass: BestEffort
  conditions: [{type: Ready, status: 'False'}]
  containerStatuses:
  - name: flow
    image: 'flow:1'
    imageID: 'sha256:0'
    containerID: 'containerd://0'
    ready: false
    restartCount: 4
    started: false
    state: {waiting: {reason: CrashLoopBackOff, message: back-off}}
    lastState: {terminated: {reason: Error, exitCode: 2}}
";

    #[test]
    fn essentials_keep_only_what_the_rules_read() {
        assert_eq!(
            essentials(yaml(LIVE_JOB)),
            yaml(
                "kind: Job\nmetadata: {name: flow-1, generation: 1}\nspec: {completions: 1, backoffLimit: 2}\nstatus: {active: 1, failed: 1, startTime: '2026-01-01T00:00:00Z'}"
            )
        );
        assert_eq!(
            essentials(yaml(LIVE_POD)),
            yaml(
                "kind: Pod
metadata: {name: flow-1-abcde, creationTimestamp: '2026-01-01T00:00:00Z'}
status:
  phase: Running
  conditions: [{type: Ready, status: 'False'}]
  containerStatuses:
  - {name: flow, ready: false, restartCount: 4, state: {waiting: {reason: CrashLoopBackOff, message: back-off}}, lastState: {terminated: {reason: Error, exitCode: 2}}}
"
            )
        );
    }

    #[test]
    fn essentials_give_the_same_verdicts() {
        let objects = [
            LIVE_JOB,
            LIVE_POD,
            "kind: Deployment\nmetadata: {generation: 2}\nspec: {replicas: 3, strategy: {type: Recreate}}\nstatus: {observedGeneration: 2, replicas: 3, updatedReplicas: 3, availableReplicas: 2}",
            "kind: StatefulSet\nmetadata: {generation: 1}\nspec: {replicas: 2, updateStrategy: {type: OnDelete}}\nstatus: {observedGeneration: 1, readyReplicas: 2, updatedReplicas: 1, currentRevision: a, updateRevision: b}",
            "kind: Service\nspec: {type: LoadBalancer, ports: [{port: 80}]}\nstatus: {loadBalancer: {}}",
            "kind: Widget\nmetadata: {generation: 3}\nspec: {size: 1}\nstatus: {observedGeneration: 3, conditions: [{type: Ready, status: 'True'}]}",
            "kind: Widget\nspec: {size: 1}",
        ];
        let policy = Policy::default();
        let now = "2026-01-01T00:10:00Z".parse().ok();
        for text in objects {
            let whole = yaml(text);
            let kept = essentials(whole.clone());
            assert_eq!(object(&kept), object(&whole), "{text}");
            assert_eq!(
                pod(&kept, &policy, now),
                pod(&whole, &policy, now),
                "{text}"
            );
        }
    }

    #[test]
    fn plain_data_is_ready_on_existence() {
        assert_eq!(object(&yaml("kind: ConfigMap\ndata: {}")), Readiness::Ready);
        assert_eq!(
            object(&yaml("kind: HorizontalPodAutoscaler\nspec: {}")),
            Readiness::Ready
        );
    }
}
