//! `finally`: delete everything a job created, flows before services, wait until each object is
//! really gone (uid-checked), then sweep by the job label for anything the record missed.
//! Safe to run twice, after a crashed install, or when nothing was installed.

use super::record::{self, InventoryEntry, Phase, Task};
use super::{Cluster, ClusterError, with_retry};
use crate::manifest::{Object, Wave, uninstall_order};
use crate::preprocess::{LABEL_JOB_ID, LABEL_MANAGED_BY, MANAGED_BY};
use futures::{StreamExt, TryStreamExt, stream};
use kube::api::{DeleteParams, DynamicObject, ListParams, Preconditions, PropagationPolicy};
use kube::runtime::wait::{await_condition, conditions};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Kinds swept by label besides those in the record: everything the charts can render.
const SWEEP_KINDS: [(&str, &str); 10] = [
    ("autoscaling/v2", "HorizontalPodAutoscaler"),
    ("batch/v1", "Job"),
    ("apps/v1", "Deployment"),
    ("apps/v1", "StatefulSet"),
    ("v1", "Service"),
    ("v1", "ConfigMap"),
    ("v1", "Secret"),
    ("v1", "ServiceAccount"),
    ("v1", "PersistentVolumeClaim"),
    ("policy/v1", "PodDisruptionBudget"),
];

const DEFAULT_DEADLINE: Duration = Duration::from_secs(600);

pub struct DeleteOptions {
    pub force: bool,
    pub deadline: Option<Duration>,
    pub concurrency: usize,
}

/// Runs `finally` for a job and returns how many objects were deleted.
pub async fn uninstall(
    cluster: &Cluster,
    namespace: &str,
    job_id: &str,
    options: &DeleteOptions,
) -> Result<usize, ClusterError> {
    let started = Instant::now();
    let mut record = record::read(cluster, namespace, job_id).await?;
    if let Some(record) = &mut record {
        record.phase = Phase::Uninstalling;
        record.task = Task::Finally;
        record::write(cluster, record).await?;
    } else {
        tracing::warn!(%job_id, %namespace, "no job record; deleting whatever carries the job label");
    }
    let mut entries = record
        .as_ref()
        .map(|r| r.inventory.clone())
        .unwrap_or_default();
    let mut kinds: Vec<(String, String)> = SWEEP_KINDS
        .iter()
        .map(|(a, k)| (a.to_string(), k.to_string()))
        .collect();
    kinds.extend(
        entries
            .iter()
            .filter(|e| e.namespace.is_some())
            .map(|e| (e.api_version.clone(), e.kind.clone())),
    );
    kinds.sort();
    kinds.dedup();
    for found in sweep(cluster, namespace, job_id, &kinds).await? {
        if !entries.iter().any(|e| e.same_object(&found)) {
            tracing::info!(object = %found.display(), "found by the job label, not in the record");
            entries.push(found);
        }
    }
    let count = entries.len();
    let result = delete_entries(cluster, job_id, entries, options).await;
    let result = match result {
        Ok(()) => {
            let remaining = sweep(cluster, namespace, job_id, &kinds).await?;
            if remaining.is_empty() {
                Ok(())
            } else {
                Err(ClusterError::Leftovers(
                    remaining
                        .iter()
                        .map(InventoryEntry::display)
                        .collect::<Vec<_>>()
                        .join(", "),
                ))
            }
        }
        Err(err) => Err(err),
    };
    if let Some(record) = &mut record {
        match &result {
            Ok(()) => {
                record.phase = Phase::Uninstalled;
                record.inventory.clear();
                record.endpoints.clear();
            }
            Err(err) => record.last_error = Some(super::apply::one_line(err)),
        }
        record::write(cluster, record).await?;
    }
    result?;
    tracing::info!(
        objects = count,
        seconds = started.elapsed().as_secs_f32(),
        "uninstalled"
    );
    Ok(count)
}

/// Objects of the given kinds that carry the job label.
pub async fn sweep(
    cluster: &Cluster,
    namespace: &str,
    job_id: &str,
    kinds: &[(String, String)],
) -> Result<Vec<InventoryEntry>, ClusterError> {
    let selector = format!(
        "{LABEL_JOB_ID}={},{LABEL_MANAGED_BY}={MANAGED_BY}",
        crate::names::label_value(job_id)
    );
    let mut found = Vec::new();
    for (api_version, kind) in kinds {
        let api = match cluster.api(api_version, kind, Some(namespace)).await {
            Ok(api) => api,
            Err(ClusterError::UnknownKind { .. }) => continue,
            Err(err) => return Err(err),
        };
        let params = ListParams::default().labels(&selector);
        let list = match with_retry(&format!("list {kind}"), || api.list(&params)).await {
            Ok(list) => list,
            // The task's Role grants only the kinds the charts render: what the executor may
            // not list, it cannot have created either.
            Err(kube::Error::Api(status)) if status.code == 403 => {
                tracing::debug!(%kind, "not allowed to list; skipped in the sweep");
                continue;
            }
            Err(e) => return Err(ClusterError::api(format!("list {kind} by job label"), e)),
        };
        for item in list.items {
            if item.metadata.deletion_timestamp.is_some()
                && item
                    .metadata
                    .finalizers
                    .as_ref()
                    .is_none_or(|f| f.is_empty())
            {
                // Already going away with nothing holding it.
                continue;
            }
            found.push(InventoryEntry {
                api_version: api_version.clone(),
                kind: kind.clone(),
                namespace: Some(namespace.to_string()),
                name: item.metadata.name.unwrap_or_default(),
                uid: item.metadata.uid,
            });
        }
    }
    Ok(found)
}

/// Deletes the entries wave by wave in uninstall order (flows first), each wave awaited until
/// its objects are gone. Objects that are not this job's are never touched.
pub async fn delete_entries(
    cluster: &Cluster,
    job_id: &str,
    entries: Vec<InventoryEntry>,
    options: &DeleteOptions,
) -> Result<(), ClusterError> {
    let deadline = Instant::now() + options.deadline.unwrap_or(DEFAULT_DEADLINE);
    let job_label = crate::names::label_value(job_id);
    // Read the live objects: their labels decide the order and whether they are ours.
    let live: Vec<Option<(Object, DynamicObject)>> = stream::iter(entries.into_iter().map(|entry| {
        let job_label = job_label.clone();
        async move {
            let api = match cluster.api(&entry.api_version, &entry.kind, entry.namespace.as_deref()).await {
                Ok(api) => api,
                Err(ClusterError::UnknownKind { .. }) => return Ok(None),
                Err(err) => return Err(err),
            };
            let found = with_retry(&format!("read {}", entry.display()), || api.get_opt(&entry.name))
                .await
                .map_err(|e| ClusterError::api(format!("read {}", entry.display()), e))?;
            let Some(found) = found else { return Ok(None) };
            let labels = found.metadata.labels.clone().unwrap_or_default();
            if labels.get(LABEL_MANAGED_BY).map(String::as_str) != Some(MANAGED_BY) || labels.get(LABEL_JOB_ID) != Some(&job_label) {
                tracing::warn!(object = %entry.display(), "not deleting: it is no longer this job's object");
                return Ok(None);
            }
            if let Some(uid) = &entry.uid
                && found.metadata.uid.as_ref() != Some(uid)
            {
                tracing::info!(object = %entry.display(), "recreated since it was recorded; deleting the current one, which is still this job's");
            }
            let mut value = serde_json::to_value(&found).unwrap_or_default();
            value["apiVersion"] = entry.api_version.clone().into();
            value["kind"] = entry.kind.clone().into();
            Ok(Some((Object { template: String::new(), document: 0, value }, found)))
        }
    }))
    .buffer_unordered(options.concurrency.max(1))
    .try_collect()
    .await?;
    let mut objects: Vec<Object> = live.iter().flatten().map(|(o, _)| o.clone()).collect();
    uninstall_order(&mut objects);

    let mut start = 0;
    while start < objects.len() {
        let wave = Wave::of(&objects[start]);
        let end = objects[start..]
            .iter()
            .position(|o| Wave::of(o) != wave)
            .map_or(objects.len(), |p| start + p);
        let members = &objects[start..end];
        // Deletion requests go out with bounded concurrency; then the whole wave is awaited at
        // once, since foreground deletion (pods first) takes the garbage collector a while.
        let issued: Vec<Option<(&Object, &str)>> =
            stream::iter(members.iter().map(|object| async move {
                let uid = object
                    .value
                    .pointer("/metadata/uid")
                    .and_then(serde_json::Value::as_str)
                    .unwrap_or_default();
                Ok::<_, ClusterError>(
                    request_delete(cluster, object, uid, options.force)
                        .await?
                        .then_some((object, uid)),
                )
            }))
            .buffer_unordered(options.concurrency.max(1))
            .try_collect()
            .await?;
        let remaining = deadline.saturating_duration_since(Instant::now());
        let issued: Vec<(&Object, &str)> = issued.into_iter().flatten().collect();
        wait_all_gone(cluster, job_id, &issued, remaining).await?;
        tracing::info!(?wave, objects = members.len(), "deleted");
        start = end;
    }
    Ok(())
}

/// Deletes the object with this uid (foreground, so dependents such as pods go first) and waits
/// until it is gone. A different uid under the same name is left alone.
pub async fn delete_and_wait(
    cluster: &Cluster,
    object: &Object,
    uid: &str,
    force: bool,
    remaining: Duration,
) -> Result<(), ClusterError> {
    if request_delete(cluster, object, uid, force).await? {
        wait_gone(cluster, object, uid, remaining).await?;
    }
    Ok(())
}

/// Kinds whose deletion must wait for owned objects (ReplicaSets, Pods).
fn has_dependents(kind: &str) -> bool {
    !crate::readiness::is_plain_data(kind) && kind != "Service"
}

/// Asks for the deletion; `false` when the object is gone already or was replaced (the uid
/// precondition failed), so there is nothing to wait for.
async fn request_delete(
    cluster: &Cluster,
    object: &Object,
    uid: &str,
    force: bool,
) -> Result<bool, ClusterError> {
    let api = cluster.api_for(object).await?;
    // Foreground only where there are dependents to remove first (a workload's pods): for a
    // ConfigMap or Service it would just queue a finalizer behind the garbage collector's
    // rate limit (200 ConfigMaps took 15 s instead of 1).
    let propagation = if has_dependents(object.kind()) {
        PropagationPolicy::Foreground
    } else {
        PropagationPolicy::Background
    };
    let params = DeleteParams {
        propagation_policy: Some(propagation),
        grace_period_seconds: force.then_some(0),
        preconditions: Some(Preconditions {
            uid: Some(uid.to_string()),
            resource_version: None,
        }),
        ..DeleteParams::default()
    };
    let action = format!("delete {}", object.display());
    match with_retry(&action, || api.delete(object.name(), &params)).await {
        Ok(_) => Ok(true),
        Err(kube::Error::Api(status)) if status.code == 404 || status.code == 409 => Ok(false),
        Err(err) => Err(ClusterError::api(action, err)),
    }
}

/// Watches, one label-selected watch per kind, until none of the objects (by uid) exists.
async fn wait_all_gone(
    cluster: &Cluster,
    job_id: &str,
    objects: &[(&Object, &str)],
    remaining: Duration,
) -> Result<(), ClusterError> {
    let mut by_kind: BTreeMap<(String, String, Option<String>), BTreeMap<String, String>> =
        BTreeMap::new();
    for (object, uid) in objects {
        let key = (
            object.api_version().to_string(),
            object.kind().to_string(),
            object.namespace().map(str::to_string),
        );
        by_kind
            .entry(key)
            .or_default()
            .insert(object.name().to_string(), uid.to_string());
    }
    let selector = format!("{LABEL_JOB_ID}={}", crate::names::label_value(job_id));
    let waits = by_kind
        .into_iter()
        .map(|((api_version, kind, namespace), pending)| {
            let selector = selector.clone();
            async move {
                let api = cluster
                    .api(&api_version, &kind, namespace.as_deref())
                    .await?;
                let total = pending.len();
                let outcome =
                    tokio::time::timeout(remaining, watch_until_gone(api, &selector, pending))
                        .await;
                match outcome {
                    Ok(Ok(())) => Ok(()),
                    Ok(Err(err)) => Err(ClusterError::api(
                        format!("watch {kind} deletions"),
                        kube::Error::Service(Box::new(err)),
                    )),
                    Err(_) => Err(ClusterError::Deadline {
                        seconds: remaining.as_secs(),
                        waiting_for: format!("{total} {kind} objects to be deleted"),
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
    api: kube::Api<DynamicObject>,
    selector: &str,
    mut pending: BTreeMap<String, String>,
) -> Result<(), kube::runtime::watcher::Error> {
    use kube::runtime::watcher::{self, Event};
    let mut stream = std::pin::pin!(watcher::watcher(
        api,
        watcher::Config::default().labels(selector)
    ));
    let mut listed: BTreeMap<String, String> = BTreeMap::new();
    let uid_of = |o: &DynamicObject| o.metadata.uid.clone().unwrap_or_default();
    while !pending.is_empty() {
        let Some(event) = stream.try_next().await? else {
            break;
        };
        match event {
            Event::Init => listed.clear(),
            Event::InitApply(object) => {
                listed.insert(
                    object.metadata.name.clone().unwrap_or_default(),
                    uid_of(&object),
                );
            }
            Event::InitDone => pending.retain(|name, uid| listed.get(name) == Some(uid)),
            Event::Apply(object) => {
                let name = object.metadata.name.clone().unwrap_or_default();
                if pending
                    .get(&name)
                    .is_some_and(|uid| *uid != uid_of(&object))
                {
                    pending.remove(&name);
                }
            }
            Event::Delete(object) => {
                let name = object.metadata.name.clone().unwrap_or_default();
                if pending.get(&name) == Some(&uid_of(&object)) {
                    pending.remove(&name);
                }
            }
        }
    }
    Ok(())
}

/// Watches until the object with this uid no longer exists.
async fn wait_gone(
    cluster: &Cluster,
    object: &Object,
    uid: &str,
    remaining: Duration,
) -> Result<(), ClusterError> {
    let api = cluster.api_for(object).await?;
    match tokio::time::timeout(
        remaining,
        await_condition(api, object.name(), conditions::is_deleted(uid)),
    )
    .await
    {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(err)) => Err(ClusterError::api(
            format!("wait for {} to be deleted", object.display()),
            kube::Error::Service(Box::new(err)),
        )),
        Err(_) => Err(ClusterError::Deadline {
            seconds: remaining.as_secs(),
            waiting_for: format!("{} to be deleted", object.display()),
        }),
    }
}
