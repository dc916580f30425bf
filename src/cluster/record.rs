//! The job record (README.md, Lifecycle guarantees): a small ConfigMap `modelops-job-<id>` in the target namespace,
//! written before the first object is applied. It carries the phase, the current pipeline task
//! and an inventory of what the job created, but never manifests. A large inventory goes to
//! gzip-compressed shard ConfigMaps the record names, so no job runs into the 1 MiB object limit
//! that Helm's release secrets hit (docs/design-choices.md, "Inventories of any size").
//!
//! The record is labelled `modelops.io/job-record`, not `modelops.io/job-id`: the final sweep by
//! job label must not delete it, so `status` can still report `Uninstalled` afterwards.

use super::{Cluster, ClusterError, FIELD_MANAGER};
use crate::k8s::ownership::{LABEL_MANAGED_BY, LABEL_PART_OF, LABEL_PIPELINE, MANAGED_BY, PART_OF};
use crate::k8s::{ObjectKey, ObjectRef};
use crate::manifest::Object;
use crate::names::label_value;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, Patch, PatchParams};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::str::FromStr;

pub const LABEL_JOB_RECORD: &str = "modelops.io/job-record";
/// On the ConfigMaps holding a large record's inventory; not the job label, so the sweep of
/// finally leaves them to the record.
pub const LABEL_JOB_RECORD_SHARD: &str = "modelops.io/job-record-shard";

/// The inventory's key: text in the record's `data`, gzip in a shard's `binaryData`.
const INVENTORY: &str = "inventory";
/// The names of the shards, one a line, when the inventory is not inline.
const INVENTORY_SHARDS: &str = "inventoryShards";
/// Inventories up to this much text stay readable in the record itself (the format of every
/// record before shards existed, about 2,500 objects); larger ones go to compressed shards.
const INLINE_LIMIT: usize = 256 * 1024;
/// Compressed bytes after which a shard is closed: with what the compressor still holds, well
/// below the 1 MiB a ConfigMap may carry.
const SHARD_LIMIT: usize = 640 * 1024;
/// How far a shard may decompress when read: a corrupt shard cannot exhaust memory.
const SHARD_TEXT_LIMIT: u64 = 512 * 1024 * 1024;

/// How a record stores its inventory.
enum Layout {
    Inline(String),
    Shards(Vec<Shard>),
}

/// A gzip-compressed run of inventory lines in its own ConfigMap, named by its content: a
/// shard's content never changes, a changed inventory gets new shards.
struct Shard {
    name: String,
    gzip: Vec<u8>,
}

/// Inventory lines cut into gzip members of about `limit` compressed bytes, at line ends.
fn compress(text: &str, limit: usize) -> Vec<Vec<u8>> {
    use flate2::{Compression, write::GzEncoder};
    use std::io::Write;
    let finish = |encoder: GzEncoder<Vec<u8>>| encoder.finish().expect("writing to memory");
    let mut shards = Vec::new();
    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
    let mut pending = false;
    for line in text.lines() {
        pending = true;
        encoder
            .write_all(line.as_bytes())
            .and_then(|()| encoder.write_all(b"\n"))
            .expect("writing to memory");
        if encoder.get_ref().len() >= limit {
            let full = std::mem::replace(
                &mut encoder,
                GzEncoder::new(Vec::new(), Compression::default()),
            );
            shards.push(finish(full));
            pending = false;
        }
    }
    if pending || shards.is_empty() {
        shards.push(finish(encoder));
    }
    shards
}

fn decompress(gzip: &[u8], limit: u64) -> Result<String, String> {
    use std::io::Read;
    let mut text = String::new();
    flate2::read::GzDecoder::new(gzip)
        .take(limit + 1)
        .read_to_string(&mut text)
        .map_err(|e| format!("not gzip-compressed text: {e}"))?;
    if text.len() as u64 > limit {
        return Err(format!("decompresses to more than {limit} bytes"));
    }
    Ok(text)
}

fn decode_lines(text: &str) -> Result<Vec<InventoryEntry>, String> {
    text.lines()
        .filter(|line| !line.is_empty())
        .map(|line| {
            InventoryEntry::decode(line).ok_or_else(|| format!("bad inventory line `{line}`"))
        })
        .collect()
}

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

/// A Tekton PipelineRun, stored as `namespace/name`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PipelineRunRef {
    pub namespace: String,
    pub name: String,
}

impl fmt::Display for PipelineRunRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

impl FromStr for PipelineRunRef {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        match text.split_once('/') {
            Some((namespace, name))
                if !namespace.is_empty() && !name.is_empty() && !name.contains('/') =>
            {
                Ok(PipelineRunRef {
                    namespace: namespace.to_string(),
                    name: name.to_string(),
                })
            }
            _ => Err(format!("`{text}` is not namespace/name")),
        }
    }
}

/// One object the job created (or was about to create), and its uid once the API server gave
/// one: a uid tells the object apart from a later one of the same name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct InventoryEntry {
    #[serde(flatten)]
    pub object: ObjectRef,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    /// What the last apply sent and left owned, hashed (`cluster::unchanged`): lets a re-install
    /// skip the object while nothing changed. Internal, so not in `status` or `jobs` output.
    #[serde(skip)]
    pub applied: Option<String>,
}

impl InventoryEntry {
    pub fn of(object: &Object) -> Self {
        InventoryEntry {
            object: object.object_ref(),
            uid: None,
            applied: None,
        }
    }

    /// apiVersion, kind, namespace, name: what identifies an object across uids; for sets and
    /// maps, so matching inventories stays linear in their size.
    pub fn key(&self) -> ObjectKey<'_> {
        self.object.key()
    }

    pub fn display(&self) -> String {
        self.object.display()
    }

    /// One line: `apiVersion kind namespace|- name uid|- [applied]`.
    fn encode_into(&self, out: &mut String) {
        for (i, field) in [
            self.object.api_version.as_str(),
            &self.object.kind,
            self.object.namespace.as_deref().unwrap_or("-"),
            &self.object.name,
            self.uid.as_deref().unwrap_or("-"),
        ]
        .into_iter()
        .chain(self.applied.as_deref())
        .enumerate()
        {
            if i > 0 {
                out.push(' ');
            }
            out.push_str(field);
        }
    }

    /// Lines without the applied digest (records written before it was kept) are read too.
    fn decode(line: &str) -> Option<Self> {
        let parts: Vec<&str> = line.split(' ').collect();
        let (api_version, kind, namespace, name, uid, applied) = match parts.as_slice() {
            [api_version, kind, namespace, name, uid] => {
                (api_version, kind, namespace, name, uid, None)
            }
            [api_version, kind, namespace, name, uid, applied] => (
                api_version,
                kind,
                namespace,
                name,
                uid,
                Some(applied.to_string()),
            ),
            _ => return None,
        };
        let optional = |s: &str| (s != "-").then(|| s.to_string());
        Some(InventoryEntry {
            object: ObjectRef {
                api_version: api_version.to_string(),
                kind: kind.to_string(),
                namespace: optional(namespace),
                name: name.to_string(),
            },
            uid: optional(uid),
            applied,
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
    /// The Tekton PipelineRun that runs the job, when install was told (`--pipeline-run`):
    /// `cancel` cancels that run so its finally task removes the job.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pipeline_run: Option<PipelineRunRef>,
    /// A digest of the content as last read from or written to the cluster (`updatedAt` left
    /// out), so writing an unchanged record is skipped: a no-op re-install writes nothing.
    #[serde(skip)]
    stored: Option<String>,
    /// The inventory shards the stored record refers to (none while the inventory is inline).
    #[serde(skip)]
    shards: Vec<String>,
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
    /// `task` starts: the record says so, with the task's phase. Install starts the job afresh,
    /// so an earlier failure is no longer its state; wait and finally keep it until they end
    /// (`status` still says why a job failed while finally cleans up, and after).
    pub fn begin(&mut self, task: Task) {
        self.phase = match task {
            Task::Install => Phase::Installing,
            Task::Wait => Phase::Running,
            Task::Finally => Phase::Uninstalling,
        };
        if task == Task::Install {
            self.last_error = None;
        }
        self.task = task;
    }

    /// The current task ended well: installed; scored (no error left); or uninstalled, with
    /// nothing left to list (the last error, if any, stays as the job's history).
    pub fn succeeded(&mut self) {
        match self.task {
            Task::Install => self.phase = Phase::Installed,
            Task::Wait => {
                self.phase = Phase::Succeeded;
                self.last_error = None;
            }
            Task::Finally => {
                self.phase = Phase::Uninstalled;
                self.inventory.clear();
                self.endpoints.clear();
            }
        }
    }

    /// A task ended with `err`: `Cancelled` when a signal stopped it, else `Failed`, with the
    /// reason on one line.
    pub fn ended_by(&mut self, err: &super::ClusterError) {
        self.phase = if matches!(err, super::ClusterError::Cancelled(_)) {
            Phase::Cancelled
        } else {
            Phase::Failed
        };
        self.last_error = Some(crate::error_chain::one_line(err));
    }

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
            pipeline_run: None,
            stored: None,
            shards: Vec::new(),
        }
    }

    /// Whether the cluster holds this record as it is now (apart from `updatedAt`).
    pub fn is_stored(&self) -> bool {
        self.stored.is_some()
    }

    pub fn name(&self) -> String {
        record_name(&self.job_id)
    }

    /// The ConfigMap as server-side apply wants it. Keys are plain strings so `kubectl get cm -o
    /// yaml` is readable.
    pub fn to_config_map(&self) -> Value {
        let mut body = self.content(&self.layout());
        body["data"]["updatedAt"] = self.updated_at.clone().into();
        body
    }

    /// The inventory as text, one entry per line.
    fn inventory_text(&self) -> String {
        let mut text = String::new();
        for entry in &self.inventory {
            if !text.is_empty() {
                text.push('\n');
            }
            entry.encode_into(&mut text);
        }
        text
    }

    /// How the inventory is stored: inline while small, else in compressed shards.
    fn layout(&self) -> Layout {
        let text = self.inventory_text();
        if text.len() <= INLINE_LIMIT {
            return Layout::Inline(text);
        }
        Layout::Shards(
            compress(&text, SHARD_LIMIT)
                .into_iter()
                .map(|gzip| Shard {
                    name: format!(
                        "{}-inventory-{}",
                        self.name(),
                        &crate::digest::sha256_hex(&gzip)[..16]
                    ),
                    gzip,
                })
                .collect(),
        )
    }

    /// A digest of everything the record holds but `updatedAt`: its content with the inventory
    /// as plain text. The layout follows from that text, so equal digests mean equal ConfigMaps,
    /// and a write that would change nothing is known without compressing the inventory.
    fn fingerprint(&self) -> String {
        let content = self.content(&Layout::Inline(self.inventory_text()));
        crate::digest::sha256_hex(content.to_string().as_bytes())
    }

    /// The ConfigMap without `updatedAt`, the one field that changes whenever it is written.
    fn content(&self, layout: &Layout) -> Value {
        let mut data = BTreeMap::from([
            ("jobId", self.job_id.clone()),
            ("pipeline", self.pipeline.clone()),
            ("mode", self.mode.clone()),
            ("valuesDigest", self.values_digest.clone()),
            ("phase", self.phase.to_string()),
            ("task", self.task.to_string()),
            ("endpoints", self.endpoints.join("\n")),
            ("createdAt", self.created_at.clone()),
        ]);
        match layout {
            Layout::Inline(text) => data.insert(INVENTORY, text.clone()),
            Layout::Shards(shards) => data.insert(
                INVENTORY_SHARDS,
                shards
                    .iter()
                    .map(|s| s.name.as_str())
                    .collect::<Vec<_>>()
                    .join("\n"),
            ),
        };
        if let Some(error) = &self.last_error {
            data.insert("lastError", error.clone());
        }
        if let Some(run) = &self.pipeline_run {
            data.insert("pipelineRun", run.to_string());
        }
        json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": self.name(),
                "namespace": self.namespace,
                "labels": self.labels(LABEL_JOB_RECORD),
            },
            "data": data,
        })
    }

    fn labels(&self, record_label: &str) -> Value {
        json!({
            LABEL_MANAGED_BY: MANAGED_BY,
            LABEL_PART_OF: PART_OF,
            record_label: label_value(&self.job_id),
            LABEL_PIPELINE: label_value(&self.pipeline),
        })
    }

    fn shard_config_map(&self, shard: &Shard) -> Value {
        use base64::Engine;
        json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": shard.name,
                "namespace": self.namespace,
                "labels": self.labels(LABEL_JOB_RECORD_SHARD),
            },
            "binaryData": {
                INVENTORY: base64::engine::general_purpose::STANDARD.encode(&shard.gzip),
            },
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
        let inventory =
            decode_lines(data.get(INVENTORY).map_or("", String::as_str)).map_err(invalid)?;
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
            pipeline_run: data
                .get("pipelineRun")
                .map(|text| text.parse())
                .transpose()
                .map_err(|reason| invalid(format!("data.pipelineRun: {reason}")))?,
            stored: None,
            shards: lines(INVENTORY_SHARDS),
        })
    }

    /// Marks the record as what the cluster holds, once its inventory is complete.
    fn into_stored(mut self) -> Self {
        self.stored = Some(self.fingerprint());
        self
    }

    /// Adds objects to the inventory (keeping known uids), so a crash mid-apply still leaves a
    /// complete list of what may exist.
    /// Returns whether any was added.
    pub fn plan(&mut self, objects: &[Object]) -> bool {
        let known: HashSet<ObjectKey> = self.inventory.iter().map(InventoryEntry::key).collect();
        let new: Vec<InventoryEntry> = objects
            .iter()
            .filter(|object| !known.contains(&object.key()))
            .map(InventoryEntry::of)
            .collect();
        if new.is_empty() {
            return false;
        }
        self.inventory.extend(new);
        self.inventory.sort();
        self.inventory.dedup_by(|a, b| a.key() == b.key());
        true
    }

    /// Records the uids and applied digests of applied objects; returns whether a uid changed
    /// (a new object, which finally must be able to tell apart: worth a write at once, while the
    /// digests can wait for the outcome's write).
    pub fn set_applied(&mut self, applied: &[InventoryEntry]) -> bool {
        let applied: HashMap<ObjectKey, &InventoryEntry> =
            applied.iter().map(|entry| (entry.key(), entry)).collect();
        let mut new_uid = false;
        for entry in &mut self.inventory {
            if let Some(now) = applied.get(&entry.key()) {
                let (uid, digest) = (now.uid.clone(), now.applied.clone());
                new_uid |= entry.uid != uid;
                entry.uid = uid;
                entry.applied = digest;
            }
        }
        new_uid
    }

    /// Keeps only the entries of objects still rendered.
    pub fn retain_rendered(&mut self, objects: &[Object]) {
        let rendered: HashSet<ObjectKey> = objects.iter().map(Object::key).collect();
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
    let found = cluster
        .with_retry(&format!("read job record {name}"), || api.get_opt(&name))
        .await
        .map_err(|e| ClusterError::api(format!("read job record configmap/{name}"), e))?;
    match found {
        Some(config_map) => {
            let record = JobRecord::from_config_map(&config_map)?;
            Ok(Some(with_shards(cluster, record).await?))
        }
        None => Ok(None),
    }
}

/// Reads the record's inventory shards into its inventory. A shard that is gone (deleted by
/// hand: the executor deletes a shard only after the record stopped referring to it) is
/// reported and skipped; finally's sweep by the job label still finds those objects.
async fn with_shards(cluster: &Cluster, mut record: JobRecord) -> Result<JobRecord, ClusterError> {
    let api = api(cluster, &record.namespace);
    for shard in &record.shards {
        let found = cluster
            .with_retry(&format!("read job record shard {shard}"), || {
                api.get_opt(shard)
            })
            .await
            .map_err(|e| {
                ClusterError::api(format!("read job record shard configmap/{shard}"), e)
            })?;
        let Some(config_map) = found else {
            tracing::warn!(record = %record.name(), %shard, "inventory shard missing; its objects are found by the job label only");
            continue;
        };
        let invalid = |reason: String| ClusterError::RecordInvalid {
            name: shard.clone(),
            reason,
        };
        let gzip = config_map
            .binary_data
            .as_ref()
            .and_then(|data| data.get(INVENTORY))
            .ok_or_else(|| invalid(format!("binaryData.{INVENTORY} is missing")))?;
        let text = decompress(&gzip.0, SHARD_TEXT_LIMIT)
            .map_err(|e| invalid(format!("binaryData.{INVENTORY}: {e}")))?;
        record
            .inventory
            .extend(decode_lines(&text).map_err(invalid)?);
    }
    record.inventory.sort();
    Ok(record.into_stored())
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

/// Writes the whole record (server-side apply, forced: the record has one writer), unless the
/// cluster already holds exactly this content: `updatedAt` is when the record last changed, not
/// when a task last ran, so an install that changes nothing leaves the record untouched.
pub async fn write(cluster: &Cluster, record: &mut JobRecord) -> Result<(), ClusterError> {
    let name = record.name();
    let content = record.fingerprint();
    if record.stored.as_deref() == Some(content.as_str()) {
        tracing::debug!(record = %name, phase = %record.phase, "job record unchanged; not written");
        return Ok(());
    }
    let layout = record.layout();
    let mut body = record.content(&layout);
    record.updated_at = now();
    body["data"]["updatedAt"] = record.updated_at.clone().into();
    let params = PatchParams::apply(FIELD_MANAGER).force();
    let api = api(cluster, &record.namespace);
    // Shards first, the record referring to them next, shards no longer referred to last: the
    // record only ever refers to complete shards, whenever the writer stops.
    let shards = match &layout {
        Layout::Inline(_) => Vec::new(),
        Layout::Shards(shards) => shards.iter().collect(),
    };
    for shard in shards.iter().filter(|s| !record.shards.contains(&s.name)) {
        let body = record.shard_config_map(shard);
        write_config_map(
            cluster,
            &api,
            &shard.name,
            &body,
            &params,
            &record.namespace,
        )
        .await?;
    }
    write_config_map(cluster, &api, &name, &body, &params, &record.namespace).await?;
    let referenced: Vec<String> = shards.iter().map(|s| s.name.clone()).collect();
    let unreferenced: Vec<String> = record
        .shards
        .iter()
        .filter(|s| !referenced.contains(s))
        .cloned()
        .collect();
    delete_shards(cluster, &api, &unreferenced).await?;
    record.shards = referenced;
    record.stored = Some(content);
    tracing::debug!(record = %name, phase = %record.phase, task = %record.task, "job record written");
    Ok(())
}

async fn write_config_map(
    cluster: &Cluster,
    api: &Api<ConfigMap>,
    name: &str,
    body: &Value,
    params: &PatchParams,
    namespace: &str,
) -> Result<(), ClusterError> {
    let patch = Patch::Apply(body);
    cluster
        .with_retry(&format!("write job record {name}"), || {
            api.patch(name, params, &patch)
        })
        .await
        .map_err(|e| {
            if super::is_namespace_missing(&e) {
                ClusterError::NamespaceMissing(namespace.to_string())
            } else {
                ClusterError::api(format!("write job record configmap/{name}"), e)
            }
        })?;
    Ok(())
}

async fn delete_shards(
    cluster: &Cluster,
    api: &Api<ConfigMap>,
    names: &[String],
) -> Result<(), ClusterError> {
    let params = kube::api::DeleteParams::default();
    for name in names {
        let action = format!("delete job record shard configmap/{name}");
        match cluster
            .with_retry(&action, || api.delete(name, &params))
            .await
        {
            Ok(_) => {}
            Err(kube::Error::Api(status)) if status.code == 404 => {}
            Err(e) => return Err(ClusterError::api(action, e)),
        }
    }
    Ok(())
}

/// Deletes the job's inventory shards the record does not refer to: left behind by a writer
/// that stopped between writing new shards and the record (finally calls this last).
pub async fn delete_orphan_shards(
    cluster: &Cluster,
    record: &JobRecord,
) -> Result<(), ClusterError> {
    let api = api(cluster, &record.namespace);
    let params = kube::api::ListParams::default().labels(&format!(
        "{LABEL_JOB_RECORD_SHARD}={},{LABEL_MANAGED_BY}={MANAGED_BY}",
        label_value(&record.job_id)
    ));
    let list = cluster
        .with_retry("list job record shards", || api.list_metadata(&params))
        .await
        .map_err(|e| ClusterError::api("list job record shards", e))?;
    let orphans: Vec<String> = list
        .items
        .into_iter()
        .filter_map(|item| item.metadata.name)
        .filter(|name| !record.shards.contains(name))
        .collect();
    delete_shards(cluster, &api, &orphans).await
}

/// Every job record in a namespace, or in all namespaces, newest first.
pub async fn list(
    cluster: &Cluster,
    namespace: Option<&str>,
) -> Result<Vec<JobRecord>, ClusterError> {
    let mut records: Vec<JobRecord> = Vec::new();
    for config_map in list_config_maps(cluster, namespace).await? {
        if let Ok(record) = JobRecord::from_config_map(&config_map) {
            records.push(with_shards(cluster, record).await?);
        }
    }
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
    let list = cluster
        .with_retry("list job records", || api.list(&params))
        .await
        .map_err(|e| ClusterError::api("list job records", e))?;
    Ok(list.items)
}

/// How long, and how many, finished job records a namespace keeps (README.md, Lifecycle guarantees).
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
        match cluster
            .with_retry(&format!("delete job record {name}"), || {
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
        tracing::warn!(%namespace, error = %crate::error_chain::one_line(&err), "could not prune finished job records");
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

    /// The phases a record goes through, and what each task's start and end keep of the last
    /// error: install clears it, wait's success clears it, finally keeps it as history.
    #[test]
    fn each_task_begins_and_ends_with_its_phase() {
        let mut record = JobRecord::new("j", "ns", "p", "batch", "d");
        record.last_error = Some("an earlier install failed".into());
        record.endpoints.push("http://s.ns.svc:8080".into());
        record.begin(Task::Install);
        assert_eq!(
            (record.task, record.phase),
            (Task::Install, Phase::Installing)
        );
        assert_eq!(record.last_error, None);
        record.succeeded();
        assert_eq!(record.phase, Phase::Installed);

        record.begin(Task::Wait);
        assert_eq!((record.task, record.phase), (Task::Wait, Phase::Running));
        record.last_error = Some("scoring failed".into());
        record.begin(Task::Finally);
        assert_eq!(
            (record.task, record.phase, record.last_error.as_deref()),
            (Task::Finally, Phase::Uninstalling, Some("scoring failed"))
        );
        record.succeeded();
        assert_eq!(record.phase, Phase::Uninstalled);
        assert_eq!(record.last_error.as_deref(), Some("scoring failed"));
        assert!(record.endpoints.is_empty() && record.inventory.is_empty());

        let mut scored = JobRecord::new("k", "ns", "p", "batch", "d");
        scored.begin(Task::Wait);
        scored.last_error = Some("a watch broke once".into());
        scored.succeeded();
        assert_eq!((scored.phase, scored.last_error), (Phase::Succeeded, None));
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
    fn pipeline_run_references_are_namespace_slash_name() {
        let run: PipelineRunRef = "ci/run-1".parse().unwrap();
        assert_eq!((run.namespace.as_str(), run.name.as_str()), ("ci", "run-1"));
        assert_eq!(run.to_string(), "ci/run-1");
        for bad in ["run-1", "/run-1", "ci/", "a/b/c", ""] {
            assert!(bad.parse::<PipelineRunRef>().is_err(), "{bad}");
        }
    }

    #[test]
    fn round_trips_through_a_config_map() {
        let mut record = JobRecord::new("job-1", "dev", "fraud", "batch", "abc");
        record.inventory.push(InventoryEntry {
            object: ObjectRef {
                api_version: "apps/v1".into(),
                kind: "Deployment".into(),
                namespace: Some("dev".into()),
                name: "d".into(),
            },
            uid: Some("u-1".into()),
            applied: Some("0123456789abcdef0123456789abcdef".into()),
        });
        record.inventory.push(InventoryEntry {
            object: ObjectRef {
                api_version: "v1".into(),
                kind: "Namespace".into(),
                namespace: None,
                name: "n".into(),
            },
            uid: None,
            applied: None,
        });
        record.endpoints.push("http://d.dev.svc:8080".into());
        record.last_error = Some("boom".into());
        record.pipeline_run = Some("ci/run-1".parse().unwrap());
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
                .contains_key(crate::k8s::ownership::LABEL_JOB_ID),
            "the sweep must not delete the record"
        );
        let read = JobRecord::from_config_map(&config_map).unwrap();
        assert_eq!(read.stored, None, "complete once the shards are read");
        assert_eq!(read, record);
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
        let mut applied = InventoryEntry::of(&config_map("a"));
        applied.uid = Some("uid-a".into());
        assert!(record.set_applied(std::slice::from_ref(&applied)));
        assert!(
            !record.set_applied(&[applied]),
            "the same uid again is no news"
        );
        // Planned again with a new object: the known uid stays, nothing is listed twice.
        record.plan(&[config_map("a"), config_map("c"), config_map("c")]);
        let listed = |record: &JobRecord| -> Vec<(String, Option<String>)> {
            record
                .inventory
                .iter()
                .map(|e| (e.object.name.clone(), e.uid.clone()))
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

    /// A uid as the API server makes them: random, so it does not compress.
    fn uid(i: u64) -> String {
        let mut x = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xD1B5_4A32_D192_ED03;
        let mut hex = String::new();
        for _ in 0..2 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            hex.push_str(&format!("{x:016x}"));
        }
        format!(
            "{}-{}-{}-{}-{}",
            &hex[0..8],
            &hex[8..12],
            &hex[12..16],
            &hex[16..20],
            &hex[20..32]
        )
    }

    #[test]
    fn a_hundred_thousand_objects_fit_in_shards_below_the_object_limit() {
        let mut record = JobRecord::new("job-1", "dev", "fraud", "batch", &"a".repeat(64));
        for i in 0..100_000u64 {
            let (api_version, kind) = if i % 2 == 0 {
                ("batch/v1", "Job")
            } else {
                ("v1", "ConfigMap")
            };
            record.inventory.push(InventoryEntry {
                object: ObjectRef {
                    api_version: api_version.into(),
                    kind: kind.into(),
                    namespace: Some("scoring-production".into()),
                    name: format!("fraud-detection-job-0123456789-score-transactions-{i:06}"),
                },
                uid: Some(uid(i)),
                // Digests do not compress: the worst case for the shards' size.
                applied: Some(crate::digest::sha256_hex(&i.to_le_bytes())[..32].to_string()),
            });
        }
        record.inventory.sort();
        let Layout::Shards(shards) = record.layout() else {
            panic!("100,000 objects inline");
        };
        let mut text = String::new();
        for shard in &shards {
            let size = record.shard_config_map(shard).to_string().len();
            // The JSON carries base64 (4/3 of the bytes); the API server's limit is on the bytes.
            assert!(shard.gzip.len() < 800 * 1024, "{} bytes", shard.gzip.len());
            assert!(size < 1100 * 1024, "{size} bytes of JSON");
            text.push_str(&decompress(&shard.gzip, SHARD_TEXT_LIMIT).unwrap());
        }
        assert_eq!(decode_lines(&text).unwrap(), record.inventory);
        let main = record.to_config_map().to_string().len();
        assert!(main < 4096, "{main} bytes");
        eprintln!("{} shards, {main} bytes of record", shards.len());
    }

    #[test]
    fn small_inventories_stay_readable_in_todays_format() {
        // A record as every version before shards wrote it.
        let config_map: ConfigMap = serde_json::from_value(json!({
            "metadata": {"name": "modelops-job-j", "namespace": "dev"},
            "data": {
                "jobId": "j", "pipeline": "p", "mode": "batch", "valuesDigest": "d",
                "phase": "Installed", "task": "install", "endpoints": "",
                "createdAt": "2026-11-30T10:00:00Z", "updatedAt": "2026-11-30T10:00:01Z",
                "inventory": "v1 ConfigMap dev c u-1\nbatch/v1 Job dev f -",
            },
        }))
        .unwrap();
        let record = JobRecord::from_config_map(&config_map).unwrap();
        assert_eq!(record.inventory.len(), 2);
        assert_eq!(record.inventory[0].uid.as_deref(), Some("u-1"));
        assert!(record.shards.is_empty());
        let Layout::Inline(text) = record.layout() else {
            panic!("two objects in shards");
        };
        assert_eq!(text, "v1 ConfigMap dev c u-1\nbatch/v1 Job dev f -");
    }

    #[test]
    fn shards_are_cut_at_line_ends_and_named_by_content() {
        let text: String = (0..20_000)
            .map(|i| format!("v1 ConfigMap ns n{i} {}\n", uid(i)))
            .collect();
        let shards = compress(&text, 64 * 1024);
        assert!(shards.len() > 2, "{}", shards.len());
        let joined: String = shards
            .iter()
            .map(|s| decompress(s, SHARD_TEXT_LIMIT).unwrap())
            .collect();
        assert_eq!(joined, text);
        assert_eq!(compress(&text, 64 * 1024), shards, "deterministic");
        assert_eq!(
            decompress(&shards[0], 10).unwrap_err(),
            "decompresses to more than 10 bytes"
        );
        assert!(decompress(b"not gzip", 10).is_err());
    }
}
