//! The job record (DESIGN §6): a small ConfigMap `modelops-job-<id>` in the target namespace,
//! written before the first object is applied. It carries the phase, the current pipeline task
//! and an inventory of what the job created, but never manifests, so it stays far below the 1 MiB
//! object limit that Helm's release secrets run into.
//!
//! The record is labelled `modelops.io/job-record`, not `modelops.io/job-id`: the final sweep by
//! job label must not delete it, so `status` can still report `Uninstalled` afterwards.

use super::{Cluster, ClusterError, FIELD_MANAGER, with_retry};
use crate::manifest::Object;
use crate::names::label_value;
use crate::preprocess::{LABEL_MANAGED_BY, LABEL_PART_OF, LABEL_PIPELINE, MANAGED_BY, PART_OF};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, Patch, PatchParams};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

pub const LABEL_JOB_RECORD: &str = "modelops.io/job-record";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Phase {
    Installing,
    Installed,
    Running,
    Succeeded,
    Failed,
    Cancelled,
    Uninstalling,
    Uninstalled,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Task {
    Install,
    Wait,
    Finally,
}

macro_rules! text_enum {
    ($type:ty, $($variant:ident => $text:literal),+) => {
        impl fmt::Display for $type {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(match self { $(Self::$variant => $text),+ })
            }
        }
        impl FromStr for $type {
            type Err = String;
            fn from_str(text: &str) -> Result<Self, String> {
                match text { $($text => Ok(Self::$variant),)+ other => Err(format!("unknown value `{other}`")) }
            }
        }
    };
}

text_enum!(Phase, Installing => "Installing", Installed => "Installed", Running => "Running", Succeeded => "Succeeded",
    Failed => "Failed", Cancelled => "Cancelled", Uninstalling => "Uninstalling", Uninstalled => "Uninstalled");
text_enum!(Task, Install => "install", Wait => "wait", Finally => "finally");

/// One object the job created (or was about to create).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct InventoryEntry {
    #[serde(rename = "apiVersion")]
    pub api_version: String,
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
}

impl InventoryEntry {
    pub fn of(object: &Object) -> Self {
        InventoryEntry {
            api_version: object.api_version().to_string(),
            kind: object.kind().to_string(),
            namespace: object.namespace().map(str::to_string),
            name: object.name().to_string(),
            uid: None,
        }
    }

    pub fn same_object(&self, other: &InventoryEntry) -> bool {
        self.api_version == other.api_version
            && self.kind == other.kind
            && self.namespace == other.namespace
            && self.name == other.name
    }

    pub fn display(&self) -> String {
        super::describe(&self.kind, &self.name)
    }

    /// One line: `apiVersion kind namespace|- name uid|-`.
    fn encode(&self) -> String {
        format!(
            "{} {} {} {} {}",
            self.api_version,
            self.kind,
            self.namespace.as_deref().unwrap_or("-"),
            self.name,
            self.uid.as_deref().unwrap_or("-")
        )
    }

    fn decode(line: &str) -> Option<Self> {
        let parts: Vec<&str> = line.split(' ').collect();
        let [api_version, kind, namespace, name, uid] = parts.as_slice() else {
            return None;
        };
        let optional = |s: &str| (s != "-").then(|| s.to_string());
        Some(InventoryEntry {
            api_version: api_version.to_string(),
            kind: kind.to_string(),
            namespace: optional(namespace),
            name: name.to_string(),
            uid: optional(uid),
        })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JobRecord {
    pub job_id: String,
    pub namespace: String,
    pub pipeline: String,
    pub mode: String,
    pub values_digest: String,
    pub phase: Phase,
    pub task: Task,
    pub inventory: Vec<InventoryEntry>,
    /// Scoring service URLs, for the Tekton `endpoints` result.
    pub endpoints: Vec<String>,
    pub created_at: String,
    pub updated_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

pub fn record_name(job_id: &str) -> String {
    format!("modelops-job-{job_id}")
}

pub fn now() -> String {
    jiff::Timestamp::now()
        .round(jiff::Unit::Second)
        .unwrap_or_else(|_| jiff::Timestamp::now())
        .to_string()
}

impl JobRecord {
    pub fn new(
        job_id: &str,
        namespace: &str,
        pipeline: &str,
        mode: &str,
        values_digest: &str,
    ) -> Self {
        let now = now();
        JobRecord {
            job_id: job_id.to_string(),
            namespace: namespace.to_string(),
            pipeline: pipeline.to_string(),
            mode: mode.to_string(),
            values_digest: values_digest.to_string(),
            phase: Phase::Installing,
            task: Task::Install,
            inventory: Vec::new(),
            endpoints: Vec::new(),
            created_at: now.clone(),
            updated_at: now,
            last_error: None,
        }
    }

    pub fn name(&self) -> String {
        record_name(&self.job_id)
    }

    /// The ConfigMap as server-side apply wants it. Keys are plain strings so `kubectl get cm -o
    /// yaml` is readable.
    pub fn to_config_map(&self) -> Value {
        let inventory: Vec<String> = self.inventory.iter().map(InventoryEntry::encode).collect();
        let mut data = BTreeMap::from([
            ("jobId", self.job_id.clone()),
            ("pipeline", self.pipeline.clone()),
            ("mode", self.mode.clone()),
            ("valuesDigest", self.values_digest.clone()),
            ("phase", self.phase.to_string()),
            ("task", self.task.to_string()),
            ("inventory", inventory.join("\n")),
            ("endpoints", self.endpoints.join("\n")),
            ("createdAt", self.created_at.clone()),
            ("updatedAt", self.updated_at.clone()),
        ]);
        if let Some(error) = &self.last_error {
            data.insert("lastError", error.clone());
        }
        json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": self.name(),
                "namespace": self.namespace,
                "labels": {
                    LABEL_MANAGED_BY: MANAGED_BY,
                    LABEL_PART_OF: PART_OF,
                    LABEL_JOB_RECORD: label_value(&self.job_id),
                    LABEL_PIPELINE: label_value(&self.pipeline),
                },
            },
            "data": data,
        })
    }

    pub fn from_config_map(config_map: &ConfigMap) -> Result<Self, ClusterError> {
        let name = config_map.metadata.name.clone().unwrap_or_default();
        let invalid = |reason: String| ClusterError::RecordInvalid {
            name: name.clone(),
            reason,
        };
        let data = config_map.data.clone().unwrap_or_default();
        let get = |key: &str| {
            data.get(key)
                .cloned()
                .ok_or_else(|| invalid(format!("data.{key} is missing")))
        };
        let lines = |key: &str| {
            data.get(key)
                .map(|t| {
                    t.lines()
                        .filter(|l| !l.is_empty())
                        .map(str::to_string)
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default()
        };
        let inventory = lines("inventory")
            .iter()
            .map(|line| {
                InventoryEntry::decode(line)
                    .ok_or_else(|| invalid(format!("bad inventory line `{line}`")))
            })
            .collect::<Result<_, _>>()?;
        Ok(JobRecord {
            job_id: get("jobId")?,
            namespace: config_map.metadata.namespace.clone().unwrap_or_default(),
            pipeline: get("pipeline")?,
            mode: get("mode")?,
            values_digest: get("valuesDigest")?,
            phase: get("phase")?.parse().map_err(invalid)?,
            task: get("task")?.parse().map_err(invalid)?,
            inventory,
            endpoints: lines("endpoints"),
            created_at: get("createdAt")?,
            updated_at: get("updatedAt")?,
            last_error: data.get("lastError").cloned(),
        })
    }

    /// Adds objects to the inventory (keeping known uids), so a crash mid-apply still leaves a
    /// complete list of what may exist.
    pub fn plan(&mut self, objects: &[Object]) {
        for object in objects {
            let entry = InventoryEntry::of(object);
            if !self.inventory.iter().any(|e| e.same_object(&entry)) {
                self.inventory.push(entry);
            }
        }
        self.inventory.sort();
    }

    pub fn set_uid(&mut self, entry: &InventoryEntry, uid: &str) {
        if let Some(existing) = self.inventory.iter_mut().find(|e| e.same_object(entry)) {
            existing.uid = Some(uid.to_string());
        }
    }
}

fn api(cluster: &Cluster, namespace: &str) -> Api<ConfigMap> {
    Api::namespaced(cluster.client.clone(), namespace)
}

pub async fn read(
    cluster: &Cluster,
    namespace: &str,
    job_id: &str,
) -> Result<Option<JobRecord>, ClusterError> {
    let name = record_name(job_id);
    let api = api(cluster, namespace);
    let found = with_retry(&format!("read job record {name}"), || api.get_opt(&name))
        .await
        .map_err(|e| ClusterError::api(format!("read job record configmap/{name}"), e))?;
    found.as_ref().map(JobRecord::from_config_map).transpose()
}

pub async fn read_required(
    cluster: &Cluster,
    namespace: &str,
    job_id: &str,
) -> Result<JobRecord, ClusterError> {
    read(cluster, namespace, job_id)
        .await?
        .ok_or_else(|| ClusterError::RecordMissing {
            name: record_name(job_id),
            namespace: namespace.to_string(),
        })
}

/// Writes the whole record (server-side apply, forced: the record has one writer).
pub async fn write(cluster: &Cluster, record: &mut JobRecord) -> Result<(), ClusterError> {
    record.updated_at = now();
    let name = record.name();
    let body = record.to_config_map();
    let params = PatchParams::apply(FIELD_MANAGER).force();
    let api = api(cluster, &record.namespace);
    let patch = Patch::Apply(&body);
    with_retry(&format!("write job record {name}"), || {
        api.patch(&name, &params, &patch)
    })
    .await
    .map_err(|e| {
        if super::is_namespace_missing(&e) {
            ClusterError::NamespaceMissing(record.namespace.clone())
        } else {
            ClusterError::api(format!("write job record configmap/{name}"), e)
        }
    })?;
    tracing::debug!(record = %name, phase = %record.phase, task = %record.task, "job record written");
    Ok(())
}

/// Every job record in a namespace, or in all namespaces, newest first.
pub async fn list(
    cluster: &Cluster,
    namespace: Option<&str>,
) -> Result<Vec<JobRecord>, ClusterError> {
    let mut records: Vec<JobRecord> = list_config_maps(cluster, namespace)
        .await?
        .iter()
        .filter_map(|cm| JobRecord::from_config_map(cm).ok())
        .collect();
    newest_first(&mut records);
    Ok(records)
}

fn newest_first(records: &mut [JobRecord]) {
    records.sort_by(|a, b| {
        (&b.created_at, &a.namespace, &a.job_id).cmp(&(&a.created_at, &b.namespace, &b.job_id))
    });
}

async fn list_config_maps(
    cluster: &Cluster,
    namespace: Option<&str>,
) -> Result<Vec<ConfigMap>, ClusterError> {
    let api: Api<ConfigMap> = match namespace {
        Some(namespace) => Api::namespaced(cluster.client.clone(), namespace),
        None => Api::all(cluster.client.clone()),
    };
    let params = kube::api::ListParams::default().labels(&format!(
        "{LABEL_JOB_RECORD},{LABEL_MANAGED_BY}={MANAGED_BY}"
    ));
    let list = with_retry("list job records", || api.list(&params))
        .await
        .map_err(|e| ClusterError::api("list job records", e))?;
    Ok(list.items)
}

/// How long, and how many, finished job records a namespace keeps (DESIGN §7).
#[derive(Debug, Clone, Copy)]
pub struct Retention {
    pub max_age: std::time::Duration,
    pub max_count: usize,
}

/// The records to remove: finished ones (`Uninstalled`: nothing of the job is left, so the
/// record is only history) last updated more than `max_age` before `now`, and, per namespace,
/// those beyond the `max_count` most recently updated. A record of a job that may still have
/// objects (any other phase) is never removed: finally needs its inventory. A timestamp that
/// cannot be read counts as new.
pub fn to_prune<'a>(
    records: &'a [JobRecord],
    retention: &Retention,
    now: jiff::Timestamp,
) -> Vec<&'a JobRecord> {
    let updated = |r: &JobRecord| r.updated_at.parse::<jiff::Timestamp>().ok();
    let mut finished: BTreeMap<&str, Vec<&JobRecord>> = BTreeMap::new();
    for record in records.iter().filter(|r| r.phase == Phase::Uninstalled) {
        finished.entry(&record.namespace).or_default().push(record);
    }
    let max_age =
        jiff::SignedDuration::try_from(retention.max_age).unwrap_or(jiff::SignedDuration::MAX);
    let mut doomed = Vec::new();
    for (_, mut records) in finished {
        // Newest first; unreadable timestamps before all (they are kept).
        records.sort_by_key(|r| std::cmp::Reverse(updated(r).map_or((1, None), |t| (0, Some(t)))));
        for (i, record) in records.into_iter().enumerate() {
            let too_old = updated(record).is_some_and(|t| now.duration_since(t) > max_age);
            let too_many = i >= retention.max_count && updated(record).is_some();
            if too_old || too_many {
                doomed.push(record);
            }
        }
    }
    doomed
}

/// Removes the job records that [`to_prune`] selects, in one namespace or all; returns how many.
/// Each delete is conditional on the record's resourceVersion, so a record rewritten meanwhile
/// (its job id installed again) stays.
pub async fn prune(
    cluster: &Cluster,
    namespace: Option<&str>,
    retention: &Retention,
) -> Result<usize, ClusterError> {
    let config_maps = list_config_maps(cluster, namespace).await?;
    let mut versions = BTreeMap::new();
    let mut records = Vec::new();
    for config_map in &config_maps {
        if let Ok(record) = JobRecord::from_config_map(config_map) {
            versions.insert(
                (record.namespace.clone(), record.job_id.clone()),
                config_map.metadata.resource_version.clone(),
            );
            records.push(record);
        }
    }
    let doomed = to_prune(&records, retention, jiff::Timestamp::now());
    let mut removed = 0;
    for record in doomed {
        let name = record.name();
        let params = kube::api::DeleteParams {
            preconditions: Some(kube::api::Preconditions {
                resource_version: versions[&(record.namespace.clone(), record.job_id.clone())]
                    .clone(),
                uid: None,
            }),
            ..kube::api::DeleteParams::default()
        };
        let api = api(cluster, &record.namespace);
        match with_retry(&format!("delete job record {name}"), || {
            api.delete(&name, &params)
        })
        .await
        {
            Ok(_) => {
                removed += 1;
                tracing::info!(record = %name, namespace = %record.namespace, updated = %record.updated_at, "finished job record pruned");
            }
            // Gone already, or rewritten since it was listed.
            Err(kube::Error::Api(status)) if status.code == 404 || status.code == 409 => {}
            Err(err) => {
                return Err(ClusterError::api(
                    format!("delete job record configmap/{name}"),
                    err,
                ));
            }
        }
    }
    Ok(removed)
}

/// [`prune`] as a side task of install and finally: a failure is logged, never the task's.
pub async fn prune_quietly(cluster: &Cluster, namespace: &str, retention: &Retention) {
    if let Err(err) = prune(cluster, Some(namespace), retention).await {
        tracing::warn!(%namespace, error = %super::apply::one_line(&err), "could not prune finished job records");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finished(namespace: &str, job: &str, phase: Phase, updated: &str) -> JobRecord {
        let mut record = JobRecord::new(job, namespace, "p", "batch", "d");
        record.phase = phase;
        record.created_at = updated.to_string();
        record.updated_at = updated.to_string();
        record
    }

    #[test]
    fn finished_records_are_pruned_by_age_and_count_per_namespace() {
        let now: jiff::Timestamp = "2026-11-30T12:00:00Z".parse().unwrap();
        let records = [
            finished("a", "old", Phase::Uninstalled, "2026-11-20T12:00:00Z"),
            finished(
                "a",
                "old-but-installed",
                Phase::Succeeded,
                "2026-11-01T12:00:00Z",
            ),
            finished("a", "new-1", Phase::Uninstalled, "2026-11-30T11:00:00Z"),
            finished("a", "new-2", Phase::Uninstalled, "2026-11-30T10:00:00Z"),
            finished("a", "new-3", Phase::Uninstalled, "2026-11-30T09:00:00Z"),
            finished("a", "unreadable", Phase::Uninstalled, "yesterday"),
            finished("b", "b-1", Phase::Uninstalled, "2026-11-29T12:00:00Z"),
            finished("b", "b-2", Phase::Uninstalled, "2026-11-28T12:00:00Z"),
        ];
        let retention = Retention {
            max_age: std::time::Duration::from_secs(7 * 86_400),
            max_count: 3,
        };
        let mut pruned: Vec<&str> = to_prune(&records, &retention, now)
            .iter()
            .map(|r| r.job_id.as_str())
            .collect();
        pruned.sort();
        // "a" keeps the unreadable one and the two newest (3); "new-3" is one too many, "old" too
        // old; the installed job's record stays whatever its age; "b" is within both limits.
        assert_eq!(pruned, ["new-3", "old"]);
    }

    #[test]
    fn jobs_are_listed_newest_first() {
        let mut records = vec![
            finished("a", "first", Phase::Uninstalled, "2026-11-30T09:00:00Z"),
            finished("b", "third", Phase::Running, "2026-11-30T11:00:00Z"),
            finished("a", "second", Phase::Installed, "2026-11-30T10:00:00Z"),
        ];
        newest_first(&mut records);
        let order: Vec<&str> = records.iter().map(|r| r.job_id.as_str()).collect();
        assert_eq!(order, ["third", "second", "first"]);
    }

    #[test]
    fn round_trips_through_a_config_map() {
        let mut record = JobRecord::new("job-1", "dev", "fraud", "batch", "abc");
        record.inventory.push(InventoryEntry {
            api_version: "apps/v1".into(),
            kind: "Deployment".into(),
            namespace: Some("dev".into()),
            name: "d".into(),
            uid: Some("u-1".into()),
        });
        record.inventory.push(InventoryEntry {
            api_version: "v1".into(),
            kind: "Namespace".into(),
            namespace: None,
            name: "n".into(),
            uid: None,
        });
        record.endpoints.push("http://d.dev.svc:8080".into());
        record.last_error = Some("boom".into());
        let config_map: ConfigMap = serde_json::from_value(record.to_config_map()).unwrap();
        assert_eq!(
            config_map.metadata.labels.as_ref().unwrap()[LABEL_JOB_RECORD],
            "job-1"
        );
        assert!(
            !config_map
                .metadata
                .labels
                .as_ref()
                .unwrap()
                .contains_key(crate::preprocess::LABEL_JOB_ID),
            "the sweep must not delete the record"
        );
        assert_eq!(JobRecord::from_config_map(&config_map).unwrap(), record);
    }

    #[test]
    fn a_thousand_objects_stay_small() {
        let mut record = JobRecord::new("job-1", "dev", "fraud", "batch", &"a".repeat(64));
        for i in 0..4000 {
            record.inventory.push(InventoryEntry {
                api_version: "apps/v1".into(),
                kind: "Deployment".into(),
                namespace: Some("dev".into()),
                name: format!("fraud-detection-score-transactions-{i:05}"),
                uid: Some("0f8fad5b-d9cb-469f-a165-70867728950e".into()),
            });
        }
        let size = record.to_config_map().to_string().len();
        assert!(size < 512 * 1024, "{size} bytes");
    }
}
