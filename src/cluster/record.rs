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
use std::collections::{BTreeMap, HashMap, HashSet};
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

/// apiVersion, kind, namespace, name.
pub type ObjectKey<'a> = (&'a str, &'a str, Option<&'a str>, &'a str);

/// The key of a rendered object, as [`InventoryEntry::key`].
pub fn object_key(object: &Object) -> ObjectKey<'_> {
    (
        object.api_version(),
        object.kind(),
        object.namespace(),
        object.name(),
    )
}

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
        self.key() == other.key()
    }

    /// apiVersion, kind, namespace, name: what identifies an object across uids; for sets and
    /// maps, so matching inventories stays linear in their size.
    pub fn key(&self) -> ObjectKey<'_> {
        (
            &self.api_version,
            &self.kind,
            self.namespace.as_deref(),
            &self.name,
        )
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
        let known: HashSet<ObjectKey> = self.inventory.iter().map(InventoryEntry::key).collect();
        let new: Vec<InventoryEntry> = objects
            .iter()
            .filter(|object| !known.contains(&object_key(object)))
            .map(InventoryEntry::of)
            .collect();
        self.inventory.extend(new);
        self.inventory.sort();
        self.inventory.dedup_by(|a, b| a.same_object(b));
    }

    /// Records the uids the API server returned for applied objects.
    pub fn set_uids(&mut self, applied: &[(InventoryEntry, String)]) {
        let uids: HashMap<ObjectKey, &str> = applied
            .iter()
            .map(|(entry, uid)| (entry.key(), uid.as_str()))
            .collect();
        for entry in &mut self.inventory {
            if let Some(uid) = uids.get(&entry.key())
                && entry.uid.as_deref() != Some(*uid)
            {
                entry.uid = Some(uid.to_string());
            }
        }
    }

    /// Keeps only the entries of objects still rendered.
    pub fn retain_rendered(&mut self, objects: &[Object]) {
        let rendered: HashSet<ObjectKey> = objects.iter().map(object_key).collect();
        self.inventory
            .retain(|entry| rendered.contains(&entry.key()));
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

/// Every job record in a namespace, or in all namespaces.
pub async fn list(
    cluster: &Cluster,
    namespace: Option<&str>,
) -> Result<Vec<JobRecord>, ClusterError> {
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
    let mut records: Vec<JobRecord> = list
        .items
        .iter()
        .filter_map(|cm| JobRecord::from_config_map(cm).ok())
        .collect();
    records.sort_by(|a, b| {
        (&a.namespace, &a.created_at, &a.job_id).cmp(&(&b.namespace, &b.created_at, &b.job_id))
    });
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;

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

    fn config_map(name: &str) -> Object {
        Object {
            template: "t.yaml".into(),
            document: 0,
            value: json!({"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": name, "namespace": "dev"}}),
        }
    }

    #[test]
    fn plan_uids_and_retain_match_objects_by_key() {
        let mut record = JobRecord::new("job-1", "dev", "fraud", "batch", "abc");
        record.plan(&[config_map("b"), config_map("a")]);
        let applied = [(InventoryEntry::of(&config_map("a")), "uid-a".to_string())];
        record.set_uids(&applied);
        // Planned again with a new object: the known uid stays, nothing is listed twice.
        record.plan(&[config_map("a"), config_map("c"), config_map("c")]);
        let listed = |record: &JobRecord| -> Vec<(String, Option<String>)> {
            record
                .inventory
                .iter()
                .map(|e| (e.name.clone(), e.uid.clone()))
                .collect()
        };
        assert_eq!(
            listed(&record),
            [
                ("a".into(), Some("uid-a".into())),
                ("b".into(), None),
                ("c".into(), None)
            ]
        );
        record.retain_rendered(&[config_map("c"), config_map("a")]);
        assert_eq!(
            listed(&record),
            [("a".into(), Some("uid-a".into())), ("c".into(), None)]
        );
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
