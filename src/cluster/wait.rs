//! Watching a job's workloads until they are ready (or complete), fail, the deadline passes, or
//! a signal arrives. Watches, never polls: every change re-judges the target it belongs to with
//! the pure readiness rules (`watched`), and a slow tick re-judges all of them for the
//! grace-period rules and prints progress.

use super::{Cluster, ClusterError};
use crate::k8s::ObjectRef;
use crate::k8s::ownership::{self, Selecting};
use crate::readiness::Policy;
use crate::readiness::watched::{FailingPod, Verdict, Watched};
use futures::{StreamExt, stream};
use k8s_openapi::api::core::v1::{Event, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference, Time};
use kube::Resource;
use kube::api::{Api, ApiResource, ListParams, LogParams};
use kube::core::DynamicResourceScope;
use kube::runtime::watcher;
use serde::Deserialize;
use serde_json::{Value, json};
use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::time::{Duration, Instant};

/// How often progress is printed while nothing changes.
const PROGRESS_EVERY: Duration = Duration::from_secs(10);
/// The least time between two progress lines, however much changes.
const PROGRESS_MIN_INTERVAL: Duration = Duration::from_secs(5);
/// Waiting targets named in a progress line and in the deadline error.
const PROGRESS_SHOWN: usize = 3;
const DEADLINE_SHOWN: usize = 10;
/// Re-evaluation tick for the rules that depend on elapsed time.
const TICK: Duration = Duration::from_secs(2);
const LOG_TAIL_LINES: usize = 20;
/// The log read to find error lines above the tail: a server often logs its real error (a model
/// it could not load) and then many lines of shutting down.
const LOG_SCAN_LINES: i64 = 200;
const LOG_LIMIT_BYTES: i64 = 32 * 1024;
const EARLIER_ERRORS_SHOWN: usize = 5;
const LOG_LINE_CHARS: usize = 300;
const EVENTS_SHOWN: usize = 5;
/// How long reading a failing pod's logs is retried (best effort; see `diagnose`).
const LOG_RETRY_BUDGET: Duration = Duration::from_secs(5);

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
    /// Error lines of the log above its tail (see [`split_log`]).
    pub earlier_errors: Vec<String>,
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
        if !self.earlier_errors.is_empty() {
            write!(f, "\n    error lines earlier in the log:")?;
            for line in &self.earlier_errors {
                write!(f, "\n      {line}")?;
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

/// When the wait ends successfully.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Until {
    /// Every target is ready (services before flows; a batch job's Jobs completing).
    AllReady,
    /// Only a failure, the deadline or a signal ends it (streaming scoring); at the deadline it
    /// succeeds only if every target is healthy then.
    Forever,
}

pub struct WaitOptions {
    pub namespace: String,
    pub job_id: String,
    pub deadline: Option<Duration>,
    pub policy: Policy,
    pub until: Until,
    /// Whether scoring flows and their pods are watched too. Install's wait for the scoring
    /// services between waves leaves them out: on a re-install of a large job, listing every
    /// flow's pod only to ignore it cost seconds (1,000 flows: 8 s).
    pub with_flows: bool,
}

/// The watch events of every kind waited on, each with its kind.
type Events = stream::SelectAll<
    futures::stream::BoxStream<
        'static,
        (String, Result<watcher::Event<Watchable>, watcher::Error>),
    >,
>;

/// Watches the targets (and the job's pods) until the condition of `options.until` holds.
pub async fn wait_for(
    cluster: &Cluster,
    targets: &[ObjectRef],
    options: &WaitOptions,
    cancel: impl std::future::Future<Output = Signal>,
) -> Result<(), ClusterError> {
    let (mut events, mut unsynced) = watch_all(cluster, targets, options).await?;
    let mut watched = Watched::new(targets);
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
    let mut progress = Progress::default();

    loop {
        let ticked = tokio::select! {
            signal = &mut cancel => return Err(ClusterError::Cancelled(signal)),
            () = &mut sleep_until_deadline => {
                let synced = unsynced.is_empty();
                return at_deadline(cluster, &mut watched, options, synced, started).await;
            }
            _ = tick.tick() => true,
            event = events.next() => match event {
                None => return Err(ClusterError::api("watch", kube::Error::Service("watch streams ended".into()))),
                Some((kind, Ok(event))) => {
                    if matches!(event, watcher::Event::InitDone) {
                        unsynced.remove(&kind);
                    }
                    apply_event(&mut watched, &kind, event);
                    false
                }
                Some((kind, Err(err))) => {
                    // The watcher re-lists and resumes by itself, after a backoff (honouring
                    // Retry-After); keep the user informed.
                    tracing::warn!(%kind, error = %err, "watch interrupted, resuming");
                    continue;
                }
            },
        };
        // Judging starts once every watch has listed what exists, so that a target is never
        // reported missing (or a Deployment judged without its pods) merely because its list
        // came later.
        if !unsynced.is_empty() {
            continue;
        }
        let now = jiff::Timestamp::now();
        if ticked {
            watched.judge_all(&options.policy, now);
        } else {
            watched.judge_changed(&options.policy, now);
        }
        match watched.verdict() {
            Verdict::Ready if options.until == Until::AllReady => {
                tracing::info!(
                    objects = targets.len(),
                    seconds = started.elapsed().as_secs(),
                    "all ready"
                );
                return Ok(());
            }
            Verdict::Ready => progress.healthy(targets.len()),
            Verdict::Waiting(remaining) => progress.waiting(&watched, remaining, targets.len()),
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

/// One watch per kind of the targets, and one of the job's pods, all selected by the job label;
/// and the kinds whose first list has not arrived yet.
async fn watch_all(
    cluster: &Cluster,
    targets: &[ObjectRef],
    options: &WaitOptions,
) -> Result<(Events, BTreeSet<String>), ClusterError> {
    let selecting = if options.with_flows {
        Selecting::JobLabel
    } else {
        Selecting::WithoutFlows
    };
    let selector = ownership::selector(&ownership::job_label(&options.job_id), selecting);
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
            .api_as::<Watchable>(api_version, kind, Some(&options.namespace))
            .await?;
        let kind = kind.clone();
        let config = watcher::Config::default().labels(&selector);
        streams.push(
            super::retry::watch_with_backoff(watcher(api, config))
                .map(move |event| (kind.clone(), event))
                .boxed(),
        );
    }
    let unsynced = kinds.into_iter().map(|(_, kind)| kind).collect();
    Ok((stream::select_all(streams), unsynced))
}

/// The deadline came: a streaming job (`Until::Forever`) succeeds if every object is healthy
/// now; anything else has run out of time, saying what it still waited for.
async fn at_deadline(
    cluster: &Cluster,
    watched: &mut Watched,
    options: &WaitOptions,
    synced: bool,
    started: Instant,
) -> Result<(), ClusterError> {
    let seconds = options.deadline.unwrap_or_default().as_secs();
    if options.until == Until::Forever && synced {
        // The deadline is a streaming job's planned end: it succeeded only if every object is
        // healthy now (judged afresh, grace periods included).
        watched.judge_all(&options.policy, jiff::Timestamp::now());
        return match streaming_end(watched, seconds) {
            Ok(()) => {
                tracing::info!(
                    seconds = started.elapsed().as_secs(),
                    "deadline reached; every scoring object is healthy"
                );
                Ok(())
            }
            Err(Unhealthy::Failed {
                object,
                reason,
                pod,
            }) => {
                tracing::error!(%object, %reason, "scoring failed");
                let failure = diagnose(cluster, &options.namespace, object, reason, pod).await;
                Err(ClusterError::ScoringFailed(Box::new(failure)))
            }
            Err(Unhealthy::NotReady(failure)) => {
                tracing::error!(object = %failure.object, reason = %failure.reason, "scoring failed");
                Err(ClusterError::ScoringFailed(Box::new(failure)))
            }
        };
    }
    let waiting_for = match watched.verdict() {
        Verdict::Waiting(remaining) if synced => summary(watched, remaining, DEADLINE_SHOWN),
        _ => "the first watch events".to_string(),
    };
    Err(ClusterError::Deadline {
        seconds,
        waiting_for,
    })
}

/// Why a streaming job is not healthy at its deadline.
#[derive(Debug)]
enum Unhealthy {
    /// An object failed (its pod, if any, is diagnosed with events and logs).
    Failed {
        object: String,
        reason: String,
        pod: Option<FailingPod>,
    },
    /// Objects that never became (or stopped being) ready.
    NotReady(Failure),
}

/// A streaming job at its deadline: healthy only if every object is ready then.
fn streaming_end(watched: &Watched, seconds: u64) -> Result<(), Unhealthy> {
    match watched.verdict() {
        Verdict::Ready => Ok(()),
        Verdict::Failed {
            object,
            reason,
            pod,
        } => Err(Unhealthy::Failed {
            object,
            reason,
            pod,
        }),
        Verdict::Waiting(remaining) => Err(Unhealthy::NotReady(Failure {
            object: format!("{remaining} of {} scoring objects", watched.target_count()),
            reason: format!(
                "not healthy at the deadline ({seconds}s): {}",
                summary(watched, remaining, DEADLINE_SHOWN)
            ),
            events: Vec::new(),
            earlier_errors: Vec::new(),
            logs: None,
        })),
    }
}

/// Rate-limits the progress lines: at N = 200 the verdict changes with nearly every event.
#[derive(Default)]
struct Progress {
    last_line: Option<(Instant, String)>,
}

impl Progress {
    /// Prints what is awaited when it changed (at most every `PROGRESS_MIN_INTERVAL`), or again
    /// after `PROGRESS_EVERY`.
    fn waiting(&mut self, watched: &Watched, remaining: usize, total: usize) {
        // Cheap test first: the summary costs a line per shown target.
        if self
            .last_line
            .as_ref()
            .is_some_and(|(at, _)| at.elapsed() < PROGRESS_MIN_INTERVAL)
        {
            return;
        }
        let line = format!(
            "waiting for {remaining} of {total}: {}",
            summary(watched, remaining, PROGRESS_SHOWN)
        );
        self.print(line, PROGRESS_EVERY);
    }

    fn healthy(&mut self, total: usize) {
        let line =
            format!("all {total} scoring objects healthy; running until the deadline or a signal");
        self.print(line, PROGRESS_EVERY * 6);
    }

    /// Prints `line` unless it was the last one, printed less than `repeat_after` ago.
    fn print(&mut self, line: String, repeat_after: Duration) {
        let repeated = self
            .last_line
            .as_ref()
            .is_some_and(|(at, last)| *last == line && at.elapsed() < repeat_after);
        if !repeated {
            tracing::info!("{line}");
            self.last_line = Some((Instant::now(), line));
        }
    }
}

/// The first `shown` of the `remaining` waiting targets with what each waits for.
fn summary(watched: &Watched, remaining: usize, shown: usize) -> String {
    let mut text = watched.waiting().take(shown).collect::<Vec<_>>().join("; ");
    if remaining > shown {
        text.push_str(&format!("; and {} more", remaining - shown));
    }
    text
}

fn apply_event(watched: &mut Watched, kind: &str, event: watcher::Event<Watchable>) {
    match event {
        watcher::Event::Apply(object) | watcher::Event::InitApply(object) => {
            watched.upsert(kind, object.into_value(kind));
        }
        watcher::Event::Delete(object) => {
            watched.remove(kind, object.metadata.name.as_deref().unwrap_or_default());
        }
        watcher::Event::Init => watched.clear(kind),
        watcher::Event::InitDone => {}
    }
}

/// A watched object with only what the pod index, the readiness rules and the watcher itself
/// (`resourceVersion`) read, deserialised straight from the API server's JSON. A `DynamicObject`
/// parses everything, `managedFields` included, and twice (its flattened `data` buffers the whole
/// object first): that was most of `wait`'s CPU time.
#[derive(Clone, Debug, Deserialize)]
struct Watchable {
    #[serde(deserialize_with = "watched_metadata")]
    metadata: ObjectMeta,
    #[serde(default)]
    spec: Value,
    #[serde(default)]
    status: Value,
}

impl Watchable {
    /// As the readiness rules and `Watched` read it; `readiness::essentials` trims spec and status.
    fn into_value(self, kind: &str) -> Value {
        let Watchable {
            metadata,
            spec,
            status,
        } = self;
        json!({
            "kind": kind,
            "metadata": {
                "name": metadata.name,
                "generation": metadata.generation,
                "creationTimestamp": metadata.creation_timestamp,
                "labels": metadata.labels,
                "ownerReferences": metadata.owner_references,
            },
            "spec": spec,
            "status": status,
        })
    }
}

/// The metadata fields that `Watchable` keeps; the others are skipped unparsed.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WatchedMetadata {
    name: Option<String>,
    namespace: Option<String>,
    resource_version: Option<String>,
    generation: Option<i64>,
    creation_timestamp: Option<Time>,
    labels: Option<BTreeMap<String, String>>,
    owner_references: Option<Vec<OwnerReference>>,
}

fn watched_metadata<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<ObjectMeta, D::Error> {
    let m = WatchedMetadata::deserialize(deserializer)?;
    Ok(ObjectMeta {
        name: m.name,
        namespace: m.namespace,
        resource_version: m.resource_version,
        generation: m.generation,
        creation_timestamp: m.creation_timestamp,
        labels: m.labels,
        owner_references: m.owner_references,
        ..ObjectMeta::default()
    })
}

/// Kind, group and version come from discovery, as for `DynamicObject`.
impl Resource for Watchable {
    type DynamicType = ApiResource;
    type Scope = DynamicResourceScope;

    fn group(resource: &ApiResource) -> Cow<'_, str> {
        resource.group.as_str().into()
    }
    fn version(resource: &ApiResource) -> Cow<'_, str> {
        resource.version.as_str().into()
    }
    fn kind(resource: &ApiResource) -> Cow<'_, str> {
        resource.kind.as_str().into()
    }
    fn api_version(resource: &ApiResource) -> Cow<'_, str> {
        resource.api_version.as_str().into()
    }
    fn plural(resource: &ApiResource) -> Cow<'_, str> {
        resource.plural.as_str().into()
    }
    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }
    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

/// Adds recent events and the failing container's last log lines; best effort and bounded.
async fn diagnose(
    cluster: &Cluster,
    namespace: &str,
    object: String,
    reason: String,
    pod: Option<FailingPod>,
) -> Failure {
    let mut failure = Failure {
        object,
        reason,
        events: Vec::new(),
        earlier_errors: Vec::new(),
        logs: None,
    };
    let Some(FailingPod {
        pod: pod_name,
        container,
        previous,
    }) = pod
    else {
        return failure;
    };
    let events: Api<Event> = Api::namespaced(cluster.client.clone(), namespace);
    let params = ListParams::default().fields(&format!("involvedObject.name={pod_name}"));
    let listed = cluster
        .with_retry(&format!("list events of pod {pod_name}"), || {
            events.list(&params)
        })
        .await;
    if let Err(err) = &listed {
        tracing::warn!(pod = %pod_name, error = %err, "cannot read the pod's events for the failure report");
    }
    if let Ok(list) = listed {
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
        previous,
        tail_lines: Some(LOG_SCAN_LINES),
        limit_bytes: Some(LOG_LIMIT_BYTES),
        ..LogParams::default()
    };
    // The API server fetches logs from the kubelet; when that is unreachable it answers 500
    // every time, so the retries end sooner than for other reads.
    let logs = cluster
        .with_short_retry(
            LOG_RETRY_BUDGET,
            &format!("read logs of pod {pod_name}"),
            || pods.logs(&pod_name, &params),
        )
        .await;
    match logs {
        Ok(logs) if !logs.trim().is_empty() => {
            let (earlier_errors, tail) = split_log(&logs);
            failure.earlier_errors = earlier_errors;
            failure.logs = Some(tail);
        }
        Ok(_) => {}
        Err(err) => tracing::debug!(pod = %pod_name, error = %err, "no logs available"),
    }
    failure
}

/// A log's last [`LOG_TAIL_LINES`] lines, and the last few lines above them that look like errors
/// (`error`, `exception`, `fatal`, `failed`, `couldn't`, `cannot`, case-insensitive), each cut to
/// [`LOG_LINE_CHARS`] characters.
pub fn split_log(log: &str) -> (Vec<String>, String) {
    let lines: Vec<&str> = log.trim_end().lines().collect();
    let (above, tail) = lines.split_at(lines.len().saturating_sub(LOG_TAIL_LINES));
    const MARKERS: [&str; 6] = [
        "error",
        "exception",
        "fatal",
        "failed",
        "couldn't",
        "cannot",
    ];
    let mut earlier: Vec<String> = above
        .iter()
        .filter(|line| {
            let lower = line.to_lowercase();
            MARKERS.iter().any(|m| lower.contains(m))
        })
        .map(|line| match line.char_indices().nth(LOG_LINE_CHARS) {
            Some((end, _)) => format!("{}…", &line[..end]),
            None => line.to_string(),
        })
        .collect();
    earlier.drain(..earlier.len().saturating_sub(EARLIER_ERRORS_SHOWN));
    (earlier, tail.join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_lines_above_the_tail_are_kept_and_the_tail_is_the_last_lines() {
        let mut log = vec!["starting".to_string()];
        log.push("[mlserver][bad:1] INFO - Couldn't load model 'bad'. Model will be removed from registry.".into());
        log.push("[mlserver] ERROR - Some of the models failed to load during startup!".into());
        log.extend((0..30).map(|i| format!("shutdown step {i}")));
        let (earlier, tail) = split_log(&log.join("\n"));
        assert_eq!(
            earlier,
            [
                "[mlserver][bad:1] INFO - Couldn't load model 'bad'. Model will be removed from registry.",
                "[mlserver] ERROR - Some of the models failed to load during startup!"
            ]
        );
        assert_eq!(tail.lines().count(), LOG_TAIL_LINES);
        assert!(
            tail.starts_with("shutdown step 10") && tail.ends_with("shutdown step 29"),
            "{tail}"
        );
        // A short log is all tail; error lines in it are not repeated.
        let (earlier, tail) = split_log("error: boom\n");
        assert!(earlier.is_empty());
        assert_eq!(tail, "error: boom");
        // Many error lines: the last few, each bounded.
        let noisy: Vec<String> = (0..50)
            .map(|i| format!("error {i} {}", "x".repeat(1000)))
            .collect();
        let (earlier, _) = split_log(&noisy.join("\n"));
        assert_eq!(earlier.len(), EARLIER_ERRORS_SHOWN);
        assert!(earlier[0].starts_with("error 25 "), "{}", &earlier[0][..20]);
        assert!(
            earlier
                .iter()
                .all(|l| l.chars().count() == LOG_LINE_CHARS + 1)
        );
    }

    fn watched_deployment(status: &str) -> Watched {
        let target = ObjectRef {
            api_version: "apps/v1".into(),
            kind: "Deployment".into(),
            namespace: None,
            name: "flow".into(),
        };
        let mut watched = Watched::new(&[target]);
        let text = format!(
            "kind: Deployment\nmetadata: {{name: flow, generation: 1}}\nspec: {{replicas: 1}}\nstatus: {status}"
        );
        watched.upsert("Deployment", crate::yaml::parse_one(&text).unwrap());
        watched.judge_all(&Policy::default(), jiff::Timestamp::now());
        watched
    }

    #[test]
    fn a_streaming_job_ends_well_only_if_healthy_at_the_deadline() {
        let healthy = watched_deployment(
            "{observedGeneration: 1, replicas: 1, updatedReplicas: 1, readyReplicas: 1, availableReplicas: 1}",
        );
        assert!(streaming_end(&healthy, 60).is_ok());

        let never_ready =
            watched_deployment("{observedGeneration: 1, replicas: 1, updatedReplicas: 1}");
        let Err(Unhealthy::NotReady(failure)) = streaming_end(&never_ready, 60) else {
            panic!("a flow that never became ready ended well");
        };
        assert_eq!(failure.object, "1 of 1 scoring objects");
        assert!(
            failure
                .reason
                .starts_with("not healthy at the deadline (60s): deployment/flow: "),
            "{}",
            failure.reason
        );

        let failed = watched_deployment(
            "{observedGeneration: 1, conditions: [{type: Progressing, status: 'False', reason: ProgressDeadlineExceeded, message: timed out}]}",
        );
        assert!(matches!(
            streaming_end(&failed, 60),
            Err(Unhealthy::Failed { object, .. }) if object == "deployment/flow"
        ));
    }

    #[test]
    fn a_watched_object_keeps_what_judging_and_the_watcher_read() {
        let json = r#"{"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "flow-1-x", "namespace": "ns", "resourceVersion": "42",
                "uid": "u", "creationTimestamp": "2026-01-01T00:00:00Z",
                "labels": {"job-name": "flow-1"},
                "ownerReferences": [{"apiVersion": "batch/v1", "kind": "Job", "name": "flow-1", "uid": "j", "controller": true}],
                "managedFields": [{"manager": "kube-controller-manager", "fieldsV1": {"f:metadata": {}}}]},
            "spec": {"containers": [{"name": "flow", "image": "flow:1"}]},
            "status": {"phase": "Running"}}"#;
        let object: Watchable = serde_json::from_str(json).unwrap();
        // The watcher resumes from the resourceVersion of the last object it saw.
        assert_eq!(object.metadata.resource_version.as_deref(), Some("42"));
        assert_eq!(object.metadata.managed_fields, None);
        let value = object.into_value("Pod");
        assert_eq!(value["metadata"]["labels"]["job-name"], "flow-1");
        assert_eq!(value["metadata"]["ownerReferences"][0]["kind"], "Job");
        assert_eq!(
            value["metadata"]["creationTimestamp"],
            "2026-01-01T00:00:00Z"
        );
        assert_eq!(value["status"]["phase"], "Running");
        assert_eq!(
            crate::readiness::essentials(value),
            serde_json::json!({"kind": "Pod",
                "metadata": {"name": "flow-1-x", "creationTimestamp": "2026-01-01T00:00:00Z"},
                "status": {"phase": "Running"}})
        );
    }
}
