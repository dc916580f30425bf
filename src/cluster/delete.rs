//! `finally`: delete everything a job created, flows before services, wait until each object is
//! really gone (uid-checked), then sweep by the job label for anything the record missed.
//! Safe to run twice, after a crashed install, or when nothing was installed.
//!
//! Only metadata is read, listed and watched (names, labels, uids: all a deletion decides on),
//! and only kind, name, namespace and uid are kept per object, so memory does not grow with the
//! size of the objects. The job's live objects are found with one label-selected LIST per kind
//! rather than one read per recorded object.

use super::record::{self, InventoryEntry, JobRecord, Task};
use super::{Cluster, ClusterError};
use crate::k8s::kinds::{self, Wave};
use crate::k8s::ownership::{self, LABEL_COMPONENT, LABEL_JOB_ID, Selecting};
use crate::k8s::{ObjectKey, ObjectRef};
use crate::manifest::Object;
use futures::{StreamExt, TryStreamExt, stream};
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Preconditions, PropagationPolicy};
use kube::core::{ObjectMeta, PartialObjectMeta};
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

const DEFAULT_DEADLINE: Duration = Duration::from_secs(600);

type MetadataApi = Api<PartialObjectMeta<DynamicObject>>;

/// How deleting a workload reaches its dependents (ReplicaSets, Pods); spelled like the
/// `--cascade` of kubectl and Helm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Cascade {
    /// Delete every object right away and wait until the objects themselves are gone; the
    /// garbage collector removes their pods afterwards (what `helm uninstall --wait` and
    /// `kubectl delete --wait` guarantee).
    #[default]
    Background,
    /// Delete workloads only after their pods, so the pods are gone too when deletion returns.
    Foreground,
}

impl Cascade {
    pub const NAMES: [&'static str; 2] = ["background", "foreground"];
}

impl std::str::FromStr for Cascade {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "background" => Ok(Cascade::Background),
            "foreground" => Ok(Cascade::Foreground),
            other => Err(format!("unknown cascade `{other}`")),
        }
    }
}

pub struct DeleteOptions {
    pub force: bool,
    pub deadline: Option<Duration>,
    pub concurrency: usize,
    pub cascade: Cascade,
}

/// A live object to delete: which it is, the uid to delete and its wave. Nothing else of the
/// object is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Doomed {
    object: ObjectRef,
    uid: String,
    wave: Wave,
}

impl Doomed {
    fn new(api_version: &str, kind: &str, metadata: ObjectMeta) -> Self {
        let component = metadata
            .labels
            .as_ref()
            .and_then(|labels| labels.get(LABEL_COMPONENT))
            .map(String::as_str);
        Doomed {
            wave: Wave::of_kind(kind, component),
            object: ObjectRef {
                api_version: api_version.to_string(),
                kind: kind.to_string(),
                namespace: metadata.namespace,
                name: metadata.name.unwrap_or_default(),
            },
            uid: metadata.uid.unwrap_or_default(),
        }
    }

    fn key(&self) -> ObjectKey<'_> {
        self.object.key()
    }

    fn display(&self) -> String {
        self.object.display()
    }
}

/// What one sweep saw: the job's live objects, and the kinds it could list at all.
#[derive(Default)]
struct Sweep {
    objects: Vec<Doomed>,
    listed: BTreeSet<(String, String)>,
}

/// Runs `finally` for a job and returns how many objects were deleted.
pub async fn uninstall(
    cluster: &Cluster,
    namespace: &str,
    job_id: &str,
    options: &DeleteOptions,
) -> Result<usize, ClusterError> {
    let started = Instant::now();
    let deadline = started + options.deadline.unwrap_or(DEFAULT_DEADLINE);
    let (mut record, found) = find_everything(cluster, namespace, job_id, options).await?;
    let count = found.objects.len();
    let job_label = ownership::job_label(job_id);
    let result = match delete_all(cluster, &job_label, found.objects, options, deadline).await {
        Ok(()) => check_nothing_left(cluster, namespace, job_id, &found.kinds, options).await,
        Err(err) => Err(err),
    };
    if let Some(record) = &mut record {
        match &result {
            Ok(()) => record.succeeded(),
            Err(err) => record.last_error = Some(crate::error_chain::one_line(err)),
        }
        record::write(cluster, record).await?;
        record::delete_orphan_shards(cluster, record).await?;
    }
    result?;
    tracing::info!(
        objects = count,
        cascade = ?options.cascade,
        seconds = started.elapsed().as_secs_f32(),
        "uninstalled"
    );
    Ok(count)
}

/// Everything of a job there is to delete, and every kind it was looked for in.
struct Found {
    objects: Vec<Doomed>,
    kinds: Vec<(String, String)>,
}

/// The job record (marked Uninstalling before anything is deleted), and the job's objects: those
/// carrying its label, of every kind the charts render and every namespaced kind the record
/// names, plus the recorded objects no sweep could see, read one by one.
async fn find_everything(
    cluster: &Cluster,
    namespace: &str,
    job_id: &str,
    options: &DeleteOptions,
) -> Result<(Option<JobRecord>, Found), ClusterError> {
    // Kinds swept by label besides those in the record: everything the charts can render.
    let chart_kinds: Vec<(String, String)> = kinds::swept()
        .map(|(a, k)| (a.to_string(), k.to_string()))
        .collect();
    // The record and the job's objects of every kind the charts render are read at once.
    let read_and_mark = async {
        let mut record = record::read(cluster, namespace, job_id).await?;
        match &mut record {
            Some(record) => {
                record.begin(Task::Finally);
                record::write(cluster, record).await?;
            }
            None => {
                tracing::warn!(%job_id, %namespace, "no job record; deleting whatever carries the job label");
            }
        }
        Ok(record)
    };
    let (record, mut swept) = tokio::try_join!(
        read_and_mark,
        sweep(
            cluster,
            namespace,
            job_id,
            &chart_kinds,
            options.concurrency
        ),
    )?;
    // Recorded kinds the charts do not render by default (custom resources) are swept as well.
    let mut other_kinds: Vec<(String, String)> = record
        .iter()
        .flat_map(|r| &r.inventory)
        .filter(|e| e.object.namespace.is_some())
        .map(|e| (e.object.api_version.clone(), e.object.kind.clone()))
        .filter(|kind| !chart_kinds.contains(kind))
        .collect();
    other_kinds.sort();
    other_kinds.dedup();
    let more = sweep(
        cluster,
        namespace,
        job_id,
        &other_kinds,
        options.concurrency,
    )
    .await?;
    swept.objects.extend(more.objects);
    swept.listed.extend(more.listed);

    let mut objects = swept.objects;
    let inventory = record.as_ref().map_or(&[][..], |r| &r.inventory[..]);
    let unlisted = reconcile(inventory, &objects, &swept.listed, record.is_some());
    objects.extend(read_entries(cluster, job_id, unlisted, options.concurrency).await?);
    let mut kinds = chart_kinds;
    kinds.extend(other_kinds);
    Ok((record, Found { objects, kinds }))
}

/// After the deletes: a last sweep of every kind, which must find nothing of the job.
async fn check_nothing_left(
    cluster: &Cluster,
    namespace: &str,
    job_id: &str,
    kinds: &[(String, String)],
    options: &DeleteOptions,
) -> Result<(), ClusterError> {
    let remaining = sweep(cluster, namespace, job_id, kinds, options.concurrency)
        .await?
        .objects;
    if remaining.is_empty() {
        return Ok(());
    }
    Err(ClusterError::Leftovers(
        remaining
            .iter()
            .map(Doomed::display)
            .collect::<Vec<_>>()
            .join(", "),
    ))
}

/// Matches the record against what the sweep found and returns the recorded objects the sweep
/// could not see (cluster-scoped, or of a kind it may not list), which must be read one by one.
/// A recorded object of a listed kind that the sweep did not find is gone or no longer carries
/// the job's labels: either way it is not deleted.
fn reconcile<'a>(
    inventory: &'a [InventoryEntry],
    found: &[Doomed],
    listed: &BTreeSet<(String, String)>,
    have_record: bool,
) -> Vec<&'a InventoryEntry> {
    let live: BTreeMap<ObjectKey, &Doomed> = found.iter().map(|d| (d.key(), d)).collect();
    let mut unlisted = Vec::new();
    let mut missing = Vec::new();
    for entry in inventory {
        match live.get(&entry.key()) {
            Some(object) => {
                if entry.uid.as_ref().is_some_and(|uid| *uid != object.uid) {
                    tracing::info!(object = %entry.display(), "recreated since it was recorded; deleting the current one, which is still this job's");
                }
            }
            None if entry.object.namespace.is_some()
                && listed
                    .contains(&(entry.object.api_version.clone(), entry.object.kind.clone())) =>
            {
                missing.push(entry.display());
            }
            None => unlisted.push(entry),
        }
    }
    if !missing.is_empty() {
        tracing::info!(objects = %missing.join(", "), "recorded, but not found with this job's labels (already gone, or no longer this job's): not deleted");
    }
    if have_record {
        let recorded: BTreeSet<ObjectKey> = inventory.iter().map(InventoryEntry::key).collect();
        for object in found.iter().filter(|o| !recorded.contains(&o.key())) {
            tracing::info!(object = %object.display(), "found by the job label, not in the record");
        }
    }
    unlisted
}

/// The job's live objects of the given kinds: one label-selected metadata LIST per kind,
/// `concurrency` kinds at a time.
async fn sweep(
    cluster: &Cluster,
    namespace: &str,
    job_id: &str,
    kinds: &[(String, String)],
    concurrency: usize,
) -> Result<Sweep, ClusterError> {
    let selector = ownership::selector(&ownership::job_label(job_id), Selecting::Owned);
    let lists: Vec<Option<Vec<Doomed>>> = stream::iter(kinds.iter().map(|(api_version, kind)| {
        let selector = &selector;
        async move {
            let api = match cluster
                .metadata_api(api_version, kind, Some(namespace))
                .await
            {
                Ok(api) => api,
                Err(ClusterError::UnknownKind { .. }) => return Ok(None),
                Err(err) => return Err(err),
            };
            // Each page is reduced to what deletion needs before the next is listed.
            let mut objects = Vec::new();
            let listed = cluster
                .list_in_pages(
                    &format!("list {kind}"),
                    ListParams::default().labels(selector),
                    |params| {
                        let api = api.clone();
                        async move { api.list(&params).await }
                    },
                    |items| {
                        objects.extend(
                            items
                                .into_iter()
                                .filter(|item| !going_away(&item.metadata))
                                .map(|item| Doomed::new(api_version, kind, item.metadata)),
                        )
                    },
                )
                .await;
            match listed {
                Ok(()) => Ok(Some(objects)),
                // The task's Role grants only the kinds the charts render: what the executor may
                // not list, it cannot have created either.
                Err(kube::Error::Api(status)) if status.code == 403 => {
                    tracing::debug!(%kind, "not allowed to list; skipped in the sweep");
                    Ok(None)
                }
                // The kind is no longer served (discovery was cached before its CRD, one of the
                // job's own, was deleted): no object of it is left.
                Err(kube::Error::Api(status)) if status.code == 404 => {
                    tracing::debug!(%kind, "no longer served; skipped in the sweep");
                    Ok(None)
                }
                Err(e) => Err(ClusterError::api(format!("list {kind} by job label"), e)),
            }
        }
    }))
    .buffered(concurrency.max(1))
    .try_collect()
    .await?;
    let mut sweep = Sweep::default();
    for (kind, list) in kinds.iter().zip(lists) {
        if let Some(objects) = list {
            sweep.listed.insert(kind.clone());
            sweep.objects.extend(objects);
        }
    }
    Ok(sweep)
}

/// Already being deleted with nothing holding it back.
fn going_away(metadata: &ObjectMeta) -> bool {
    metadata.deletion_timestamp.is_some() && metadata.finalizers.as_ref().is_none_or(Vec::is_empty)
}

/// Reads recorded objects one by one (metadata only) and keeps those that exist and are still
/// this job's; objects that are not this job's are never touched.
async fn read_entries(
    cluster: &Cluster,
    job_id: &str,
    entries: Vec<&InventoryEntry>,
    concurrency: usize,
) -> Result<Vec<Doomed>, ClusterError> {
    let job_label = ownership::job_label(job_id);
    let found: Vec<Option<Doomed>> = stream::iter(entries.into_iter().map(|entry| {
        let job_label = &job_label;
        async move {
            let object = &entry.object;
            let api = match cluster
                .metadata_api(&object.api_version, &object.kind, object.namespace.as_deref())
                .await
            {
                Ok(api) => api,
                Err(ClusterError::UnknownKind { .. }) => return Ok(None),
                Err(err) => return Err(err),
            };
            let action = format!("read {}", entry.display());
            let Some(found) = cluster.with_retry(&action, || api.get_opt(&object.name))
                .await
                .map_err(|e| ClusterError::api(action.clone(), e))?
            else {
                return Ok(None);
            };
            if !ownership::is_ours(found.metadata.labels.as_ref(), job_label) {
                tracing::warn!(object = %entry.display(), "not deleting: it is no longer this job's object");
                return Ok(None);
            }
            if entry.uid.is_some() && entry.uid != found.metadata.uid {
                tracing::info!(object = %entry.display(), "recreated since it was recorded; deleting the current one, which is still this job's");
            }
            Ok(Some(Doomed::new(&object.api_version, &object.kind, found.metadata)))
        }
    }))
    .buffer_unordered(concurrency.max(1))
    .try_collect()
    .await?;
    Ok(found.into_iter().flatten().collect())
}

/// Deletes the recorded entries that still exist and are this job's (install's pruning of
/// objects no longer rendered).
pub async fn delete_entries(
    cluster: &Cluster,
    job_id: &str,
    entries: Vec<InventoryEntry>,
    options: &DeleteOptions,
) -> Result<(), ClusterError> {
    let deadline = Instant::now() + options.deadline.unwrap_or(DEFAULT_DEADLINE);
    let objects = read_entries(
        cluster,
        job_id,
        entries.iter().collect(),
        options.concurrency,
    )
    .await?;
    let job_label = ownership::job_label(job_id);
    delete_all(cluster, &job_label, objects, options, deadline).await
}

/// Deletes the object with this uid, foreground (its dependents, such as a Job's pods, go
/// first), and waits until it is gone. A different uid under the same name is left alone.
pub async fn delete_and_wait(
    cluster: &Cluster,
    object: &Object,
    uid: &str,
    force: bool,
    remaining: Duration,
) -> Result<(), ClusterError> {
    let doomed = Doomed {
        object: object.object_ref(),
        uid: uid.to_string(),
        wave: object.wave(),
    };
    let job_label = object.label(LABEL_JOB_ID).unwrap_or_default();
    let options = DeleteOptions {
        force,
        deadline: Some(remaining),
        concurrency: 1,
        cascade: Cascade::Foreground,
    };
    delete_all(
        cluster,
        job_label,
        vec![doomed],
        &options,
        Instant::now() + remaining,
    )
    .await
}

/// Groups objects into deletion waves, the reverse of the install waves: autoscalers, then
/// flows, then the scoring services they call, then Services and configuration.
fn uninstall_waves(mut objects: Vec<Doomed>) -> Vec<(Wave, Vec<Doomed>)> {
    objects.sort_by_key(|object| std::cmp::Reverse(object.wave));
    let mut waves: Vec<(Wave, Vec<Doomed>)> = Vec::new();
    for object in objects {
        match waves.last_mut() {
            Some((wave, members)) if *wave == object.wave => members.push(object),
            _ => waves.push((object.wave, vec![object])),
        }
    }
    waves
}

/// Deletes wave by wave. Within a wave the requests go out `concurrency` at a time; objects the
/// API server removed at once are done, and the rest (held by finalizers, e.g. foreground
/// deletion waiting for pods) are awaited with one watch per kind before the next wave.
async fn delete_all(
    cluster: &Cluster,
    job_label: &str,
    objects: Vec<Doomed>,
    options: &DeleteOptions,
    deadline: Instant,
) -> Result<(), ClusterError> {
    for (wave, members) in uninstall_waves(objects) {
        let deleting: Vec<Option<&Doomed>> =
            stream::iter(members.iter().map(|object| async move {
                Ok::<_, ClusterError>(
                    request_delete(cluster, object, options)
                        .await?
                        .then_some(object),
                )
            }))
            .buffer_unordered(options.concurrency.max(1))
            .try_collect()
            .await?;
        let deleting: Vec<&Doomed> = deleting.into_iter().flatten().collect();
        if !deleting.is_empty() {
            tracing::info!(
                ?wave,
                objects = deleting.len(),
                cascade = ?options.cascade,
                "waiting until the deleted objects are gone"
            );
            let remaining = deadline.saturating_duration_since(Instant::now());
            wait_all_gone(cluster, job_label, &deleting, options.cascade, remaining).await?;
        }
        tracing::info!(?wave, objects = members.len(), "deleted");
    }
    Ok(())
}

/// Foreground only where there are dependents to remove first (a workload's pods): for a
/// ConfigMap or Service it would just queue a finalizer behind the garbage collector's rate
/// limit (200 ConfigMaps took 15 s instead of 1).
fn propagation(cascade: Cascade, kind: &str) -> PropagationPolicy {
    match cascade {
        Cascade::Foreground if kinds::has_dependents(kind) => PropagationPolicy::Foreground,
        _ => PropagationPolicy::Background,
    }
}

/// Asks for the deletion of this uid; `true` while the object still exists (finalizers hold it),
/// `false` when it is gone: removed at once, already gone, or replaced (the uid precondition
/// failed), so there is nothing to wait for.
async fn request_delete(
    cluster: &Cluster,
    object: &Doomed,
    options: &DeleteOptions,
) -> Result<bool, ClusterError> {
    let api: MetadataApi = cluster
        .metadata_api(
            &object.object.api_version,
            &object.object.kind,
            object.object.namespace.as_deref(),
        )
        .await?;
    let params = DeleteParams {
        propagation_policy: Some(propagation(options.cascade, &object.object.kind)),
        grace_period_seconds: options.force.then_some(0),
        preconditions: Some(Preconditions {
            uid: Some(object.uid.clone()),
            resource_version: None,
        }),
        ..DeleteParams::default()
    };
    let action = format!("delete {}", object.display());
    match cluster
        .with_retry(&action, || api.delete(&object.object.name, &params))
        .await
    {
        // Removed outright: a Status, or (for kinds such as Service) the deleted object as it
        // was. Still there: the object with a deletion timestamp, held by finalizers (foreground
        // deletion waiting for dependents) or a grace period.
        Ok(response) => Ok(response
            .left()
            .is_some_and(|object| object.metadata.deletion_timestamp.is_some())),
        Err(kube::Error::Api(status)) if status.code == 404 || status.code == 409 => Ok(false),
        Err(err) => Err(ClusterError::api(action, err)),
    }
}

/// Watches, one metadata watch per kind selecting the job label (`job_label`, a label value),
/// until none of the objects (by uid) exists.
async fn wait_all_gone(
    cluster: &Cluster,
    job_label: &str,
    objects: &[&Doomed],
    cascade: Cascade,
    remaining: Duration,
) -> Result<(), ClusterError> {
    let mut by_kind: BTreeMap<(&str, &str, Option<&str>), BTreeMap<String, String>> =
        BTreeMap::new();
    for object in objects {
        by_kind
            .entry((
                &object.object.api_version,
                &object.object.kind,
                object.object.namespace.as_deref(),
            ))
            .or_default()
            .insert(object.object.name.clone(), object.uid.clone());
    }
    let selector = ownership::selector(job_label, Selecting::JobLabel);
    let waits = by_kind
        .into_iter()
        .map(|((api_version, kind, namespace), pending)| {
            let selector = &selector;
            async move {
                let api = cluster.metadata_api(api_version, kind, namespace).await?;
                let total = pending.len();
                let outcome =
                    tokio::time::timeout(remaining, watch_until_gone(api, selector, pending)).await;
                match outcome {
                    Ok(Ok(())) => Ok(()),
                    Ok(Err(err)) => Err(ClusterError::api(
                        format!("watch {kind} deletions"),
                        kube::Error::Service(Box::new(err)),
                    )),
                    Err(_) => Err(ClusterError::Deadline {
                        seconds: remaining.as_secs(),
                        waiting_for: match cascade {
                            Cascade::Foreground if kinds::has_dependents(kind) => {
                                format!("{total} {kind} objects and their pods to be deleted")
                            }
                            _ => format!("{total} {kind} objects to be deleted"),
                        },
                    }),
                }
            }
        });
    futures::future::try_join_all(waits).await?;
    Ok(())
}

/// `pending` maps names to the uids being deleted; a name that is listed with another uid was
/// replaced, so the object we deleted is gone too.
async fn watch_until_gone(
    api: MetadataApi,
    selector: &str,
    mut pending: BTreeMap<String, String>,
) -> Result<(), kube::runtime::watcher::Error> {
    use kube::runtime::watcher::{self, Event};
    let mut stream = std::pin::pin!(super::retry::watch_with_backoff(watcher::watcher(
        api,
        watcher::Config::default().labels(selector)
    )));
    let mut listed: BTreeMap<String, String> = BTreeMap::new();
    while !pending.is_empty() {
        let event = match stream.next().await {
            None => break,
            Some(Ok(event)) => event,
            // Throttled or a broken connection: the watcher lists again after a backoff; the
            // caller's deadline bounds how long.
            Some(Err(err)) if super::retry::is_transient_watch_error(&err) => {
                tracing::warn!(error = %err, "watch of deletions interrupted, resuming");
                continue;
            }
            Some(Err(err)) => return Err(err),
        };
        match event {
            Event::Init => listed.clear(),
            Event::InitApply(object) => {
                let ObjectMeta { name, uid, .. } = object.metadata;
                listed.insert(name.unwrap_or_default(), uid.unwrap_or_default());
            }
            Event::InitDone => pending.retain(|name, uid| listed.get(name) == Some(uid)),
            Event::Apply(object) => {
                let metadata = &object.metadata;
                let name = metadata.name.as_deref().unwrap_or_default();
                if pending
                    .get(name)
                    .is_some_and(|uid| Some(uid) != metadata.uid.as_ref())
                {
                    pending.remove(name);
                }
            }
            Event::Delete(object) => {
                let metadata = &object.metadata;
                let name = metadata.name.as_deref().unwrap_or_default();
                if pending.get(name) == metadata.uid.as_ref() {
                    pending.remove(name);
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::k8s::ownership::SCORING_FLOW;

    fn meta(name: &str, component: &str) -> ObjectMeta {
        ObjectMeta {
            name: Some(name.into()),
            namespace: Some("ns".into()),
            uid: Some(format!("uid-{name}")),
            labels: Some(
                [(LABEL_COMPONENT.to_string(), component.to_string())]
                    .into_iter()
                    .collect(),
            ),
            ..ObjectMeta::default()
        }
    }

    fn doomed(api_version: &str, kind: &str, name: &str, component: &str) -> Doomed {
        Doomed::new(api_version, kind, meta(name, component))
    }

    fn entry(kind: &str, name: &str, uid: Option<&str>) -> InventoryEntry {
        InventoryEntry {
            object: ObjectRef {
                api_version: "v1".into(),
                kind: kind.into(),
                namespace: Some("ns".into()),
                name: name.into(),
            },
            uid: uid.map(str::to_string),
            applied: None,
        }
    }

    #[test]
    fn keeps_only_what_deletion_needs() {
        let object = doomed("batch/v1", "Job", "flow", SCORING_FLOW);
        assert_eq!(
            object,
            Doomed {
                object: ObjectRef {
                    api_version: "batch/v1".into(),
                    kind: "Job".into(),
                    namespace: Some("ns".into()),
                    name: "flow".into(),
                },
                uid: "uid-flow".into(),
                wave: Wave::ScoringFlows,
            }
        );
    }

    #[test]
    fn flows_go_before_the_services_they_call_and_configuration_last() {
        let objects = vec![
            doomed("v1", "ConfigMap", "flow-config", SCORING_FLOW),
            doomed("v1", "Service", "svc", "scoring-service"),
            doomed("apps/v1", "Deployment", "svc", "scoring-service"),
            doomed("batch/v1", "Job", "flow-a", SCORING_FLOW),
            doomed(
                "autoscaling/v2",
                "HorizontalPodAutoscaler",
                "svc",
                "scoring-service",
            ),
            doomed("batch/v1", "Job", "flow-b", SCORING_FLOW),
        ];
        let waves: Vec<(Wave, Vec<String>)> = uninstall_waves(objects)
            .into_iter()
            .map(|(wave, members)| (wave, members.iter().map(Doomed::display).collect()))
            .collect();
        assert_eq!(
            waves,
            [
                (
                    Wave::Autoscalers,
                    vec!["horizontalpodautoscaler/svc".into()]
                ),
                (
                    Wave::ScoringFlows,
                    vec!["job/flow-a".into(), "job/flow-b".into()]
                ),
                (Wave::ScoringServices, vec!["deployment/svc".into()]),
                (Wave::Services, vec!["service/svc".into()]),
                (Wave::Configuration, vec!["configmap/flow-config".into()]),
            ]
        );
    }

    #[test]
    fn background_cascades_everything_in_the_background() {
        for kind in [
            "Job",
            "Deployment",
            "StatefulSet",
            "SeldonDeployment",
            "ConfigMap",
        ] {
            assert_eq!(
                propagation(Cascade::Background, kind),
                PropagationPolicy::Background,
                "{kind}"
            );
        }
    }

    #[test]
    fn foreground_waits_for_the_dependents_of_workloads_only() {
        for kind in ["Job", "Deployment", "StatefulSet", "SeldonDeployment"] {
            assert_eq!(
                propagation(Cascade::Foreground, kind),
                PropagationPolicy::Foreground,
                "{kind}"
            );
        }
        for kind in ["ConfigMap", "Secret", "Service", "HorizontalPodAutoscaler"] {
            assert_eq!(
                propagation(Cascade::Foreground, kind),
                PropagationPolicy::Background,
                "{kind}"
            );
        }
    }

    #[test]
    fn recorded_objects_the_sweep_could_not_list_are_read_one_by_one() {
        let found = vec![doomed("v1", "ConfigMap", "seen", SCORING_FLOW)];
        let listed = BTreeSet::from([("v1".to_string(), "ConfigMap".to_string())]);
        let mut namespace = entry("Namespace", "ns", None);
        namespace.object.namespace = None;
        let inventory = vec![
            entry("ConfigMap", "seen", Some("old-uid")),
            entry("ConfigMap", "gone-or-not-ours", None),
            entry("Secret", "forbidden-kind", None),
            namespace.clone(),
        ];
        let unlisted = reconcile(&inventory, &found, &listed, true);
        assert_eq!(
            unlisted,
            [&entry("Secret", "forbidden-kind", None), &namespace]
        );
    }

    #[test]
    fn objects_going_away_unheld_are_not_swept() {
        let mut metadata = meta("x", SCORING_FLOW);
        assert!(!going_away(&metadata));
        metadata.deletion_timestamp = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
            jiff::Timestamp::UNIX_EPOCH,
        ));
        assert!(going_away(&metadata));
        metadata.finalizers = Some(vec!["foregroundDeletion".into()]);
        assert!(
            !going_away(&metadata),
            "held by a finalizer: still to await"
        );
    }
}
