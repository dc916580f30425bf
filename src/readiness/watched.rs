//! What `wait` knows about its targets: the latest copy of each target and of the pods they own,
//! reduced to what the readiness rules read, pods indexed by their owner, and every target's last
//! verdict. An event re-judges only the target it belongs to, so a watch event costs the pods of
//! one workload, not every pod of every target (issue 6). Pure: the watch loop in `cluster::wait` feeds
//! it.

use crate::k8s::ObjectRef;
use crate::readiness::{self, Policy, Readiness};
use serde_json::Value;
use std::collections::{BTreeSet, HashMap};

/// (kind, name) of a watched object.
type Key = (String, String);

/// Where one target stands.
#[derive(Debug, Clone, PartialEq)]
enum Judged {
    Ready,
    /// What it waits for ("not found yet", "0/1 completions, 1 active").
    Waiting(String),
    Failed {
        reason: String,
        pod: Option<FailingPod>,
    },
}

/// The pod, and its container, whose events and logs explain a failure.
#[derive(Debug, Clone, PartialEq)]
pub struct FailingPod {
    pub pod: String,
    pub container: Option<String>,
    /// The failure is the container's last run, not its current one (it restarted: waiting in
    /// CrashLoopBackOff, or running again by the time the logs are read): its logs are the
    /// `previous` ones.
    pub previous: bool,
}

/// The verdict over all targets.
#[derive(Debug, PartialEq)]
pub enum Verdict {
    Ready,
    /// How many targets are not ready yet.
    Waiting(usize),
    Failed {
        object: String,
        reason: String,
        pod: Option<FailingPod>,
    },
}

pub struct Watched {
    targets: Vec<ObjectRef>,
    /// Position of each target in `targets` and `judged`.
    index: HashMap<Key, usize>,
    judged: Vec<Judged>,
    /// Targets whose object or pods changed since they were last judged.
    dirty: BTreeSet<usize>,
    /// The targets' objects, as `readiness::essentials` keeps them.
    objects: HashMap<Key, Value>,
    /// Pods that belong to a target, by name: the target and the pod's essentials.
    pods: HashMap<String, (usize, Value)>,
    /// Pod names by target, sorted so that verdicts do not depend on arrival order.
    pods_of: Vec<BTreeSet<String>>,
}

impl Watched {
    pub fn new(targets: &[ObjectRef]) -> Watched {
        let index = targets
            .iter()
            .enumerate()
            .map(|(i, t)| ((t.kind.clone(), t.name.clone()), i))
            .collect();
        Watched {
            targets: targets.to_vec(),
            index,
            judged: vec![Judged::Waiting("not found yet".to_string()); targets.len()],
            dirty: (0..targets.len()).collect(),
            objects: HashMap::new(),
            pods: HashMap::new(),
            pods_of: vec![BTreeSet::new(); targets.len()],
        }
    }

    /// Records the latest version of an object of `kind`. Objects that are neither targets nor
    /// pods of a target are not kept.
    pub fn upsert(&mut self, kind: &str, object: Value) {
        let Some(name) = object.pointer("/metadata/name").and_then(Value::as_str) else {
            return;
        };
        let key = (kind.to_string(), name.to_string());
        if let Some(&target) = self.index.get(&key) {
            self.objects.insert(key, readiness::essentials(object));
            self.dirty.insert(target);
        } else if kind == "Pod" {
            let (_, name) = key;
            // Forget the previous version first: its owner is the one the index knows.
            self.remove(kind, &name);
            let Some(&target) = owner_of_pod(&object).and_then(|owner| self.index.get(&owner))
            else {
                return;
            };
            self.pods_of[target].insert(name.clone());
            self.pods
                .insert(name, (target, readiness::essentials(object)));
            self.dirty.insert(target);
        }
    }

    pub fn remove(&mut self, kind: &str, name: &str) {
        let key = (kind.to_string(), name.to_string());
        if let Some(&target) = self.index.get(&key) {
            self.objects.remove(&key);
            self.dirty.insert(target);
        } else if kind == "Pod"
            && let Some((target, _)) = self.pods.remove(name)
        {
            self.pods_of[target].remove(name);
            self.dirty.insert(target);
        }
    }

    /// Forgets every object of `kind`: its watch is listing again from scratch.
    pub fn clear(&mut self, kind: &str) {
        self.objects.retain(|(k, _), _| k != kind);
        if kind == "Pod" {
            self.pods.clear();
            self.pods_of.iter_mut().for_each(BTreeSet::clear);
        }
        self.dirty.extend(0..self.targets.len());
    }

    /// Re-judges the targets that changed since they were last judged.
    pub fn judge_changed(&mut self, policy: &Policy, now: jiff::Timestamp) {
        for target in std::mem::take(&mut self.dirty) {
            self.judged[target] = self.judge(target, policy, now);
        }
    }

    /// Re-judges every target: grace periods run out without any event.
    pub fn judge_all(&mut self, policy: &Policy, now: jiff::Timestamp) {
        self.dirty.extend(0..self.targets.len());
        self.judge_changed(policy, now);
    }

    fn judge(&self, target: usize, policy: &Policy, now: jiff::Timestamp) -> Judged {
        let ObjectRef { kind, name, .. } = &self.targets[target];
        let Some(object) = self.objects.get(&(kind.clone(), name.clone())) else {
            return Judged::Waiting("not found yet".to_string());
        };
        // A pod older than its object belongs to an earlier object of the same name (the job
        // re-installed right after finally, its pods not yet collected): it says nothing of this one.
        let born = created_at(object);
        let pods = || {
            self.pods_of[target]
                .iter()
                .map(|name| &self.pods[name].1)
                .filter(move |pod| !matches!((created_at(pod), born), (Some(pod), Some(born)) if pod < born))
        };
        // Pods first: a crash-looping pod explains a Deployment that "is progressing".
        for pod in pods() {
            let verdict = readiness::pod(pod, policy, Some(now));
            // A Job retries failed pods up to its backoff limit; its own condition decides.
            let fatal = match &verdict {
                Readiness::Failed(_) if kind == "Job" => {
                    pod.pointer("/status/phase").and_then(Value::as_str) != Some("Failed")
                }
                Readiness::Failed(_) => true,
                _ => false,
            };
            if let (true, Readiness::Failed(reason)) = (fatal, verdict) {
                return Judged::Failed {
                    reason,
                    pod: failing_container(pod),
                };
            }
        }
        match readiness::object(object) {
            Readiness::Ready => Judged::Ready,
            Readiness::InProgress(what) => Judged::Waiting(what),
            Readiness::Failed(reason) => Judged::Failed {
                reason,
                pod: pods().rev().find_map(failing_container),
            },
        }
    }

    /// The verdict as of the last judging: the first failed target in order, else ready or not.
    pub fn target_count(&self) -> usize {
        self.targets.len()
    }

    pub fn verdict(&self) -> Verdict {
        let mut waiting = 0;
        for (target, judged) in self.targets.iter().zip(&self.judged) {
            match judged {
                Judged::Ready => {}
                Judged::Waiting(_) => waiting += 1,
                Judged::Failed { reason, pod } => {
                    return Verdict::Failed {
                        object: target.display(),
                        reason: reason.clone(),
                        pod: pod.clone(),
                    };
                }
            }
        }
        if waiting == 0 {
            Verdict::Ready
        } else {
            Verdict::Waiting(waiting)
        }
    }

    /// "job/flow-1: 0/1 completions, 1 active" for each target that is not ready, in order.
    pub fn waiting(&self) -> impl Iterator<Item = String> + '_ {
        self.targets
            .iter()
            .zip(&self.judged)
            .filter_map(|(target, judged)| match judged {
                Judged::Waiting(what) => Some(format!("{}: {what}", target.display())),
                _ => None,
            })
    }
}

/// The target a pod belongs to, by its controller: a Job directly; a Deployment through the
/// ReplicaSet named `<deployment>-<pod-template-hash>`; StatefulSets, DaemonSets and others
/// directly. Pods without a controller reference are a Job's if they carry its `job-name` label.
fn owner_of_pod(pod: &Value) -> Option<Key> {
    let label = |key: &str| {
        pod.pointer("/metadata/labels")
            .and_then(|labels| labels.get(key))
            .and_then(Value::as_str)
    };
    let controller = pod
        .pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|owner| owner.get("controller").and_then(Value::as_bool) == Some(true));
    if let Some(owner) = controller {
        let kind = owner.get("kind").and_then(Value::as_str)?;
        let name = owner.get("name").and_then(Value::as_str)?;
        let deployment =
            label("pod-template-hash").and_then(|hash| name.strip_suffix(hash)?.strip_suffix('-'));
        return Some(match (kind, deployment) {
            ("ReplicaSet", Some(deployment)) => ("Deployment".to_string(), deployment.to_string()),
            _ => (kind.to_string(), name.to_string()),
        });
    }
    let job = label("batch.kubernetes.io/job-name").or_else(|| label("job-name"))?;
    Some(("Job".to_string(), job.to_string()))
}

/// `metadata.creationTimestamp`, when there is a readable one.
fn created_at(object: &Value) -> Option<jiff::Timestamp> {
    object
        .pointer("/metadata/creationTimestamp")
        .and_then(Value::as_str)?
        .parse()
        .ok()
}

/// The pod and the container whose logs explain a failure.
fn failing_container(pod: &Value) -> Option<FailingPod> {
    let name = pod.pointer("/metadata/name")?.as_str()?.to_string();
    let statuses = ["/status/initContainerStatuses", "/status/containerStatuses"]
        .into_iter()
        .filter_map(|p| pod.pointer(p).and_then(Value::as_array))
        .flatten();
    let status = statuses
        .filter(|s| {
            s.pointer("/state/terminated").is_some()
                || s.pointer("/state/waiting").is_some()
                || s.pointer("/lastState/terminated").is_some()
        })
        .find(|s| s.get("ready").and_then(Value::as_bool) != Some(true));
    Some(FailingPod {
        pod: name,
        container: status
            .and_then(|s| s.get("name").and_then(Value::as_str))
            .map(str::to_string),
        previous: status.is_some_and(|s| {
            s.pointer("/state/terminated").is_none() && s.pointer("/lastState/terminated").is_some()
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yaml(text: &str) -> Value {
        crate::yaml::parse_one(text).unwrap()
    }

    fn target(kind: &str, name: &str) -> ObjectRef {
        ObjectRef {
            api_version: "apps/v1".into(),
            kind: kind.into(),
            namespace: None,
            name: name.into(),
        }
    }

    fn watched(targets: &[ObjectRef], objects: &[(&str, &str)]) -> Watched {
        let mut watched = Watched::new(targets);
        for (kind, text) in objects {
            watched.upsert(kind, yaml(text));
        }
        watched.judge_changed(&Policy::default(), now());
        watched
    }

    fn now() -> jiff::Timestamp {
        "2026-01-01T00:10:00Z".parse().unwrap()
    }

    const DEPLOYMENT: &str = "kind: Deployment\nmetadata: {name: svc, generation: 1}\nspec: {replicas: 1}\nstatus: {observedGeneration: 1, replicas: 1, updatedReplicas: 1}";
    const CRASHING: &str = "kind: Pod
metadata:
  name: svc-5d4f-x1
  labels: {app: svc, pod-template-hash: 5d4f}
  ownerReferences: [{kind: ReplicaSet, name: svc-5d4f, controller: true}]
  creationTimestamp: '2026-01-01T00:00:00Z'
status:
  phase: Running
  containerStatuses:
  - name: scorer
    restartCount: 5
    ready: false
    state: {waiting: {reason: CrashLoopBackOff}}
    lastState: {terminated: {exitCode: 3, containerID: 'containerd://5'}}";

    #[test]
    fn a_failing_pod_fails_its_deployment_even_while_it_progresses() {
        let w = watched(
            &[target("Deployment", "svc")],
            &[("Deployment", DEPLOYMENT), ("Pod", CRASHING)],
        );
        match w.verdict() {
            Verdict::Failed {
                object,
                reason,
                pod,
            } => {
                assert_eq!(object, "deployment/svc");
                assert!(
                    reason.contains("CrashLoopBackOff after 5 restarts"),
                    "{reason}"
                );
                // Its logs are the last run's: the one that crashed, not the next one starting.
                assert_eq!(
                    pod,
                    Some(FailingPod {
                        pod: "svc-5d4f-x1".into(),
                        container: Some("scorer".into()),
                        previous: true,
                    })
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_pod_older_than_its_deployment_is_an_earlier_deployments() {
        // Re-installed at 00:05 after finally: the crashing pod (00:00) of the deleted Deployment
        // of the same name still carries its labels until the garbage collector removes it.
        let newer = DEPLOYMENT.replace(
            "generation: 1}",
            "generation: 1, creationTimestamp: '2026-01-01T00:05:00Z'}",
        );
        let w = watched(
            &[target("Deployment", "svc")],
            &[("Deployment", &newer), ("Pod", CRASHING)],
        );
        assert!(
            matches!(w.verdict(), Verdict::Waiting(1)),
            "{:?}",
            w.verdict()
        );
        // Its own pods still count.
        let own = CRASHING.replace("00:00:00Z", "00:05:01Z");
        let w = watched(
            &[target("Deployment", "svc")],
            &[("Deployment", &newer), ("Pod", &own)],
        );
        assert!(
            matches!(w.verdict(), Verdict::Failed { .. }),
            "{:?}",
            w.verdict()
        );
    }

    #[test]
    fn a_failed_job_pod_is_left_to_the_backoff_limit() {
        let w = watched(
            &[target("Job", "flow")],
            &[
                (
                    "Job",
                    "kind: Job\nmetadata: {name: flow}\nspec: {completions: 1, backoffLimit: 3}\nstatus: {active: 1, failed: 1}",
                ),
                (
                    "Pod",
                    "kind: Pod\nmetadata: {name: flow-a, labels: {job-name: flow}}\nstatus: {phase: Failed, reason: Error}",
                ),
            ],
        );
        assert_eq!(w.verdict(), Verdict::Waiting(1));
        let waiting: Vec<String> = w.waiting().collect();
        assert_eq!(
            waiting,
            ["job/flow: 0/1 completions, 1 active, 1 failed (backoff limit 3)"]
        );
    }

    #[test]
    fn a_failed_job_names_its_last_failing_pod() {
        let pod = |name: &str| {
            format!(
                "kind: Pod\nmetadata: {{name: {name}, labels: {{batch.kubernetes.io/job-name: flow}}}}\nstatus:\n  phase: Failed\n  containerStatuses: [{{name: flow, state: {{terminated: {{exitCode: 2}}}}}}]"
            )
        };
        let w = watched(
            &[target("Job", "flow")],
            &[
                ("Pod", &pod("flow-b")),
                ("Pod", &pod("flow-a")),
                (
                    "Job",
                    "kind: Job\nmetadata: {name: flow}\nstatus:\n  conditions: [{type: Failed, status: 'True', reason: BackoffLimitExceeded}]",
                ),
            ],
        );
        assert_eq!(
            w.verdict(),
            Verdict::Failed {
                object: "job/flow".into(),
                reason: "job failed: BackoffLimitExceeded".into(),
                pod: Some(FailingPod {
                    pod: "flow-b".into(),
                    container: Some("flow".into()),
                    previous: false,
                }),
            }
        );
    }

    #[test]
    fn missing_and_ready_targets() {
        let done = "kind: Job\nmetadata: {name: done}\nstatus:\n  conditions: [{type: Complete, status: 'True'}]";
        let w = watched(&[target("Job", "done")], &[("Job", done)]);
        assert_eq!(w.verdict(), Verdict::Ready);
        let w = watched(
            &[target("Job", "done"), target("Job", "later")],
            &[("Job", done)],
        );
        assert_eq!(w.verdict(), Verdict::Waiting(1));
        assert_eq!(
            w.waiting().collect::<Vec<_>>(),
            ["job/later: not found yet"]
        );
    }

    #[test]
    fn pods_are_indexed_by_their_controller() {
        let pod = |meta: &str| yaml(&format!("kind: Pod\nmetadata: {meta}"));
        let key = |kind: &str, name: &str| Some((kind.to_string(), name.to_string()));
        assert_eq!(
            owner_of_pod(&pod(
                "{name: p, labels: {pod-template-hash: 7c9b}, ownerReferences: [{kind: ReplicaSet, name: scorer-a-7c9b, controller: true}]}"
            )),
            key("Deployment", "scorer-a")
        );
        assert_eq!(
            owner_of_pod(&pod(
                "{name: p, labels: {job-name: flow-1}, ownerReferences: [{kind: Job, name: flow-1, controller: true}]}"
            )),
            key("Job", "flow-1")
        );
        assert_eq!(
            owner_of_pod(&pod(
                "{name: p, ownerReferences: [{kind: Node, name: n}, {kind: StatefulSet, name: db, controller: true}]}"
            )),
            key("StatefulSet", "db")
        );
        // A ReplicaSet not made by a Deployment (no matching hash) is its own owner.
        assert_eq!(
            owner_of_pod(&pod(
                "{name: p, ownerReferences: [{kind: ReplicaSet, name: rs, controller: true}]}"
            )),
            key("ReplicaSet", "rs")
        );
        assert_eq!(
            owner_of_pod(&pod("{name: p, labels: {job-name: flow-2}}")),
            key("Job", "flow-2")
        );
        assert_eq!(owner_of_pod(&pod("{name: p, labels: {app: x}}")), None);
    }

    #[test]
    fn an_event_re_judges_only_its_target() {
        let job = |name: &str, condition: &str| {
            format!(
                "kind: Job\nmetadata: {{name: {name}}}\nstatus:\n  conditions: [{{type: {condition}, status: 'True'}}]"
            )
        };
        let mut w = watched(
            &[target("Job", "a"), target("Job", "b")],
            &[
                ("Job", &job("a", "Suspended")),
                ("Job", &job("b", "Suspended")),
            ],
        );
        assert_eq!(w.verdict(), Verdict::Waiting(2));
        w.upsert("Job", yaml(&job("a", "Complete")));
        assert_eq!(w.dirty, BTreeSet::from([0]));
        w.upsert(
            "Pod",
            yaml("kind: Pod\nmetadata: {name: b-1, labels: {job-name: b}}"),
        );
        assert_eq!(w.dirty, BTreeSet::from([0, 1]));
        // Pods and objects of no target are neither kept nor a reason to judge again.
        w.upsert(
            "Pod",
            yaml("kind: Pod\nmetadata: {name: c-1, labels: {job-name: c}}"),
        );
        w.upsert("Job", yaml(&job("c", "Complete")));
        assert_eq!(w.dirty, BTreeSet::from([0, 1]));
        assert_eq!(w.pods.len(), 1);
        assert_eq!(w.objects.len(), 2);
        w.judge_changed(&Policy::default(), now());
        assert!(w.dirty.is_empty());
        assert_eq!(w.verdict(), Verdict::Waiting(1));
        w.upsert("Job", yaml(&job("b", "Complete")));
        w.judge_changed(&Policy::default(), now());
        assert_eq!(w.verdict(), Verdict::Ready);
    }

    #[test]
    fn deleted_and_relisted_objects_are_forgotten() {
        let mut w = watched(
            &[target("Deployment", "svc")],
            &[("Deployment", DEPLOYMENT), ("Pod", CRASHING)],
        );
        assert!(matches!(w.verdict(), Verdict::Failed { .. }));
        w.remove("Pod", "svc-5d4f-x1");
        w.judge_changed(&Policy::default(), now());
        assert_eq!(
            w.waiting().collect::<Vec<_>>(),
            ["deployment/svc: 0/1 replicas available"]
        );
        w.clear("Deployment");
        w.judge_changed(&Policy::default(), now());
        assert_eq!(
            w.waiting().collect::<Vec<_>>(),
            ["deployment/svc: not found yet"]
        );
    }

    #[test]
    fn grace_periods_run_out_on_the_tick() {
        let pulling = "kind: Pod\nmetadata: {name: flow-x, labels: {job-name: flow}, creationTimestamp: '2026-01-01T00:09:30Z'}\nstatus:\n  phase: Pending\n  containerStatuses: [{name: flow, state: {waiting: {reason: ImagePullBackOff}}}]";
        let mut w = watched(
            &[target("Job", "flow")],
            &[
                (
                    "Job",
                    "kind: Job\nmetadata: {name: flow}\nstatus: {active: 1}",
                ),
                ("Pod", pulling),
            ],
        );
        assert_eq!(w.verdict(), Verdict::Waiting(1));
        w.judge_all(&Policy::default(), "2026-01-01T00:10:31Z".parse().unwrap());
        assert!(
            matches!(w.verdict(), Verdict::Failed { reason, .. } if reason.contains("ImagePullBackOff"))
        );
    }
}
