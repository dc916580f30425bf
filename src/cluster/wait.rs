//! Watching a job's workloads until they are ready (or complete), fail, the deadline passes, or
//! a signal arrives. Watches, never polls: every change re-evaluates the pure readiness rules, and
//! a slow tick re-evaluates grace-period rules and prints progress.

use super::{Cluster, ClusterError, describe};
use crate::preprocess::LABEL_JOB_ID;
use crate::readiness::{self, Policy, Readiness};
use futures::{StreamExt, stream};
use k8s_openapi::api::core::v1::{Event, Pod};
use kube::api::{Api, DynamicObject, ListParams, LogParams};
use kube::runtime::watcher;
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt;
use std::time::{Duration, Instant};

/// How often progress is printed while nothing changes.
const PROGRESS_EVERY: Duration = Duration::from_secs(10);
/// Re-evaluation tick for the rules that depend on elapsed time.
const TICK: Duration = Duration::from_secs(2);
const LOG_TAIL_LINES: i64 = 20;
const LOG_LIMIT_BYTES: i64 = 4096;
const EVENTS_SHOWN: usize = 5;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    Interrupt,
    Terminate,
}

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Signal::Interrupt => "SIGINT",
            Signal::Terminate => "SIGTERM",
        })
    }
}

/// Resolves on the first SIGINT or SIGTERM (Tekton cancels by deleting the pod: SIGTERM, ~30 s grace).
pub async fn shutdown_signal() -> Signal {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) {
            (Ok(mut term), Ok(mut int)) => tokio::select! {
                _ = term.recv() => Signal::Terminate,
                _ = int.recv() => Signal::Interrupt,
            },
            _ => std::future::pending().await,
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
        Signal::Interrupt
    }
}

/// Why scoring failed: the object, the reason, and what helps to understand it.
#[derive(Debug, Clone)]
pub struct Failure {
    pub object: String,
    pub reason: String,
    pub events: Vec<String>,
    pub logs: Option<String>,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.object, self.reason)?;
        if !self.events.is_empty() {
            write!(f, "\n    recent events:")?;
            for event in &self.events {
                write!(f, "\n      {event}")?;
            }
        }
        if let Some(logs) = &self.logs {
            write!(f, "\n    last log lines:")?;
            for line in logs.lines() {
                write!(f, "\n      {line}")?;
            }
        }
        Ok(())
    }
}

/// What to wait for: workloads by kind and name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Target {
    pub api_version: String,
    pub kind: String,
    pub name: String,
}

impl Target {
    pub fn display(&self) -> String {
        describe(&self.kind, &self.name)
    }
}

/// When the wait ends successfully.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Until {
    /// Every target is ready (services before flows; a batch job's Jobs completing).
    AllReady,
    /// Only a failure, the deadline or a signal ends it (streaming scoring).
    Forever,
}

pub struct WaitOptions {
    pub namespace: String,
    pub job_id: String,
    pub deadline: Option<Duration>,
    pub policy: Policy,
    pub until: Until,
}

/// The latest version of every watched object, by (kind, name).
#[derive(Default)]
struct State {
    objects: BTreeMap<(String, String), Value>,
}

/// The verdict over all targets.
#[derive(Debug, PartialEq)]
pub enum Verdict {
    Ready,
    Waiting(Vec<String>),
    Failed {
        object: String,
        reason: String,
        pod: Option<(String, Option<String>)>,
    },
}

impl State {
    fn pods(&self) -> impl Iterator<Item = &Value> {
        self.objects
            .iter()
            .filter(|((kind, _), _)| kind == "Pod")
            .map(|(_, v)| v)
    }

    /// Pods a workload owns: for a Deployment, those its selector matches; for a Job, those
    /// labelled with its name.
    fn pods_of<'s>(&'s self, kind: &str, object: &'s Value) -> Vec<&'s Value> {
        let selector: BTreeMap<String, String> = match kind {
            "Job" => {
                let name = object
                    .pointer("/metadata/name")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                BTreeMap::from([("job-name".to_string(), name.to_string())])
            }
            _ => object
                .pointer("/spec/selector/matchLabels")
                .and_then(Value::as_object)
                .map(|m| {
                    m.iter()
                        .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                        .collect()
                })
                .unwrap_or_default(),
        };
        if selector.is_empty() {
            return Vec::new();
        }
        self.pods()
            .filter(|pod| {
                let labels = pod.pointer("/metadata/labels");
                selector.iter().all(|(k, v)| {
                    labels.and_then(|l| l.get(k)).and_then(Value::as_str) == Some(v.as_str())
                })
            })
            .collect()
    }

    pub fn verdict(&self, targets: &[Target], policy: &Policy, now: jiff::Timestamp) -> Verdict {
        let mut waiting = Vec::new();
        for target in targets {
            let Some(object) = self
                .objects
                .get(&(target.kind.clone(), target.name.clone()))
            else {
                waiting.push(format!("{}: not found yet", target.display()));
                continue;
            };
            // Pods first: a crash-looping pod explains a Deployment that "is progressing".
            for pod in self.pods_of(&target.kind, object) {
                let verdict = readiness::pod(pod, policy, Some(now));
                // A Job retries failed pods up to its backoff limit; its own condition decides.
                let fatal = match &verdict {
                    Readiness::Failed(_) if target.kind == "Job" => {
                        pod.pointer("/status/phase").and_then(Value::as_str) != Some("Failed")
                    }
                    Readiness::Failed(_) => true,
                    _ => false,
                };
                if let (true, Readiness::Failed(reason)) = (fatal, verdict) {
                    return Verdict::Failed {
                        object: target.display(),
                        reason,
                        pod: failing_container(pod),
                    };
                }
            }
            match readiness::object(object) {
                Readiness::Ready => {}
                Readiness::InProgress(what) => {
                    waiting.push(format!("{}: {what}", target.display()))
                }
                Readiness::Failed(reason) => {
                    let pod = self
                        .pods_of(&target.kind, object)
                        .into_iter()
                        .rev()
                        .find_map(failing_container);
                    return Verdict::Failed {
                        object: target.display(),
                        reason,
                        pod,
                    };
                }
            }
        }
        if waiting.is_empty() {
            Verdict::Ready
        } else {
            Verdict::Waiting(waiting)
        }
    }
}

/// The pod and the container whose logs explain a failure.
fn failing_container(pod: &Value) -> Option<(String, Option<String>)> {
    let name = pod.pointer("/metadata/name")?.as_str()?.to_string();
    let statuses = ["/status/initContainerStatuses", "/status/containerStatuses"]
        .into_iter()
        .filter_map(|p| pod.pointer(p).and_then(Value::as_array))
        .flatten();
    let container = statuses
        .filter(|s| {
            s.pointer("/state/terminated").is_some()
                || s.pointer("/state/waiting").is_some()
                || s.pointer("/lastState/terminated").is_some()
        })
        .find(|s| s.get("ready").and_then(Value::as_bool) != Some(true))
        .and_then(|s| s.get("name").and_then(Value::as_str))
        .map(str::to_string);
    Some((name, container))
}

/// Watches the targets (and the job's pods) until the condition of `options.until` holds.
pub async fn wait_for(
    cluster: &Cluster,
    targets: &[Target],
    options: &WaitOptions,
    cancel: impl std::future::Future<Output = Signal>,
) -> Result<(), ClusterError> {
    let selector = format!(
        "{LABEL_JOB_ID}={}",
        crate::names::label_value(&options.job_id)
    );
    let mut kinds: Vec<(String, String)> = targets
        .iter()
        .map(|t| (t.api_version.clone(), t.kind.clone()))
        .collect();
    kinds.push(("v1".into(), "Pod".into()));
    kinds.sort();
    kinds.dedup();
    let mut streams = Vec::new();
    for (api_version, kind) in &kinds {
        let api = cluster
            .api(api_version, kind, Some(&options.namespace))
            .await?;
        let kind = kind.clone();
        let config = watcher::Config::default().labels(&selector);
        streams.push(
            watcher(api, config)
                .map(move |event| (kind.clone(), event))
                .boxed(),
        );
    }
    let mut events = stream::select_all(streams);
    let mut state = State::default();
    let started = Instant::now();
    let deadline = options.deadline.map(|d| tokio::time::Instant::now() + d);
    let sleep_until_deadline = async {
        match deadline {
            Some(deadline) => tokio::time::sleep_until(deadline).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(sleep_until_deadline);
    tokio::pin!(cancel);
    let mut tick = tokio::time::interval(TICK);
    let mut last_waiting: Vec<String> = Vec::new();
    let mut last_progress = Instant::now();
    let mut synced = false;

    loop {
        tokio::select! {
            signal = &mut cancel => return Err(ClusterError::Cancelled(signal)),
            () = &mut sleep_until_deadline => {
                if options.until == Until::Forever {
                    tracing::info!(seconds = started.elapsed().as_secs(), "deadline reached; streaming scoring ran healthy until the end");
                    return Ok(());
                }
                let waiting = if last_waiting.is_empty() { "the first watch events".to_string() } else { last_waiting.join("; ") };
                return Err(ClusterError::Deadline { seconds: options.deadline.unwrap_or_default().as_secs(), waiting_for: waiting });
            }
            _ = tick.tick() => {}
            event = events.next() => match event {
                None => return Err(ClusterError::api("watch", kube::Error::Service("watch streams ended".into()))),
                Some((kind, Ok(event))) => {
                    if matches!(event, watcher::Event::InitDone) {
                        synced = true;
                    }
                    apply_event(&mut state, &kind, event);
                }
                Some((kind, Err(err))) => {
                    // The watcher re-lists and resumes by itself; keep the user informed.
                    tracing::warn!(%kind, error = %err, "watch interrupted, resuming");
                    continue;
                }
            },
        }
        if !synced {
            continue;
        }
        match state.verdict(targets, &options.policy, jiff::Timestamp::now()) {
            Verdict::Ready if options.until == Until::AllReady => {
                tracing::info!(
                    objects = targets.len(),
                    seconds = started.elapsed().as_secs(),
                    "all ready"
                );
                return Ok(());
            }
            Verdict::Ready => {
                if !last_waiting.is_empty() || last_progress.elapsed() >= PROGRESS_EVERY * 6 {
                    tracing::info!(
                        objects = targets.len(),
                        "all scoring objects healthy; running until the deadline or a signal"
                    );
                    last_waiting.clear();
                    last_progress = Instant::now();
                }
            }
            Verdict::Waiting(waiting) => {
                if waiting != last_waiting || last_progress.elapsed() >= PROGRESS_EVERY {
                    tracing::info!(
                        remaining = waiting.len(),
                        "waiting for {}",
                        waiting.join("; ")
                    );
                    last_progress = Instant::now();
                    last_waiting = waiting;
                }
            }
            Verdict::Failed {
                object,
                reason,
                pod,
            } => {
                tracing::error!(%object, %reason, "scoring failed");
                let failure = diagnose(cluster, &options.namespace, object, reason, pod).await;
                return Err(ClusterError::ScoringFailed(Box::new(failure)));
            }
        }
    }
}

fn apply_event(state: &mut State, kind: &str, event: watcher::Event<DynamicObject>) {
    let key = |object: &DynamicObject| {
        (
            kind.to_string(),
            object.metadata.name.clone().unwrap_or_default(),
        )
    };
    match event {
        watcher::Event::Apply(object) | watcher::Event::InitApply(object) => {
            let mut value = serde_json::to_value(&object).unwrap_or(Value::Null);
            value["kind"] = Value::String(kind.to_string());
            state.objects.insert(key(&object), value);
        }
        watcher::Event::Delete(object) => {
            state.objects.remove(&key(&object));
        }
        watcher::Event::Init => state.objects.retain(|(k, _), _| k != kind),
        watcher::Event::InitDone => {}
    }
}

/// Adds recent events and the failing container's last log lines; best effort and bounded.
async fn diagnose(
    cluster: &Cluster,
    namespace: &str,
    object: String,
    reason: String,
    pod: Option<(String, Option<String>)>,
) -> Failure {
    let mut failure = Failure {
        object,
        reason,
        events: Vec::new(),
        logs: None,
    };
    let Some((pod_name, container)) = pod else {
        return failure;
    };
    let events: Api<Event> = Api::namespaced(cluster.client.clone(), namespace);
    let params = ListParams::default().fields(&format!("involvedObject.name={pod_name}"));
    if let Ok(list) = events.list(&params).await {
        let mut items = list.items;
        items.sort_by_key(|e| {
            e.last_timestamp
                .clone()
                .map(|t| t.0)
                .or(e.event_time.clone().map(|t| t.0))
        });
        failure.events = items
            .iter()
            .rev()
            .take(EVENTS_SHOWN)
            .map(|e| {
                format!(
                    "{} {}: {}",
                    e.type_.as_deref().unwrap_or("Normal"),
                    e.reason.as_deref().unwrap_or(""),
                    e.message.as_deref().unwrap_or("").trim()
                )
            })
            .collect();
    }
    let pods: Api<Pod> = Api::namespaced(cluster.client.clone(), namespace);
    let params = LogParams {
        container,
        tail_lines: Some(LOG_TAIL_LINES),
        limit_bytes: Some(LOG_LIMIT_BYTES),
        ..LogParams::default()
    };
    match pods.logs(&pod_name, &params).await {
        Ok(logs) if !logs.trim().is_empty() => failure.logs = Some(logs.trim_end().to_string()),
        Ok(_) => {}
        Err(err) => tracing::debug!(pod = %pod_name, error = %err, "no logs available"),
    }
    failure
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yaml(text: &str) -> Value {
        crate::yaml::parse_one(text).unwrap()
    }

    fn target(kind: &str, name: &str) -> Target {
        Target {
            api_version: "apps/v1".into(),
            kind: kind.into(),
            name: name.into(),
        }
    }

    fn state(objects: &[(&str, &str, &str)]) -> State {
        let mut state = State::default();
        for (kind, name, text) in objects {
            state
                .objects
                .insert((kind.to_string(), name.to_string()), yaml(text));
        }
        state
    }

    const NOW: &str = "2026-01-01T00:10:00Z";

    #[test]
    fn a_failing_pod_fails_its_deployment_even_while_it_progresses() {
        let s = state(&[
            (
                "Deployment",
                "svc",
                "kind: Deployment\nmetadata: {name: svc, generation: 1}\nspec: {replicas: 1, selector: {matchLabels: {app: svc}}}\nstatus: {observedGeneration: 1, replicas: 1, updatedReplicas: 1}",
            ),
            (
                "Pod",
                "svc-1",
                "kind: Pod\nmetadata: {name: svc-1, labels: {app: svc}, creationTimestamp: '2026-01-01T00:00:00Z'}\nstatus:\n  phase: Running\n  containerStatuses:\n  - {name: scorer, restartCount: 5, ready: false, state: {waiting: {reason: CrashLoopBackOff}}}",
            ),
        ]);
        let verdict = s.verdict(
            &[target("Deployment", "svc")],
            &Policy::default(),
            NOW.parse().unwrap(),
        );
        match verdict {
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
                assert_eq!(pod, Some(("svc-1".into(), Some("scorer".into()))));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_failed_job_pod_is_left_to_the_backoff_limit() {
        let s = state(&[
            (
                "Job",
                "flow",
                "kind: Job\nmetadata: {name: flow}\nspec: {completions: 1, backoffLimit: 3}\nstatus: {active: 1, failed: 1}",
            ),
            (
                "Pod",
                "flow-a",
                "kind: Pod\nmetadata: {name: flow-a, labels: {job-name: flow}}\nstatus: {phase: Failed, reason: Error}",
            ),
        ]);
        let verdict = s.verdict(
            &[target("Job", "flow")],
            &Policy::default(),
            NOW.parse().unwrap(),
        );
        assert!(
            matches!(verdict, Verdict::Waiting(w) if w[0].contains("1 failed (backoff limit 3)"))
        );
    }

    #[test]
    fn missing_and_ready_targets() {
        let s = state(&[(
            "Job",
            "done",
            "kind: Job\nmetadata: {name: done}\nstatus:\n  conditions: [{type: Complete, status: 'True'}]",
        )]);
        assert_eq!(
            s.verdict(
                &[target("Job", "done")],
                &Policy::default(),
                NOW.parse().unwrap()
            ),
            Verdict::Ready
        );
        let verdict = s.verdict(
            &[target("Job", "done"), target("Job", "later")],
            &Policy::default(),
            NOW.parse().unwrap(),
        );
        assert_eq!(
            verdict,
            Verdict::Waiting(vec!["job/later: not found yet".into()])
        );
    }
}
