//! `status`: the job record plus the live readiness of every object in its inventory.

use super::record::{self, JobRecord};
use super::{Cluster, ClusterError};
use crate::readiness::{self, Readiness};
use futures::{StreamExt, TryStreamExt, stream};
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct ObjectStatus {
    pub object: String,
    pub state: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub detail: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct JobStatus {
    #[serde(flatten)]
    pub record: JobRecord,
    pub objects: Vec<ObjectStatus>,
}

pub async fn status(
    cluster: &Cluster,
    namespace: &str,
    job_id: &str,
) -> Result<JobStatus, ClusterError> {
    let record = record::read_required(cluster, namespace, job_id).await?;
    let objects = stream::iter(record.inventory.iter().map(|entry| async move {
        let entry = &entry.object;
        let api = match cluster
            .api(&entry.api_version, &entry.kind, entry.namespace.as_deref())
            .await
        {
            Ok(api) => api,
            Err(ClusterError::UnknownKind { .. }) => {
                return Ok(ObjectStatus {
                    object: entry.display(),
                    state: "Unknown".into(),
                    detail: "kind not served".into(),
                });
            }
            Err(err) => return Err(err),
        };
        let live = cluster
            .with_retry("read object", || api.get_opt(&entry.name))
            .await
            .map_err(|e| ClusterError::api(format!("read {}", entry.display()), e))?;
        let (state, detail) = match live {
            None => ("Missing".to_string(), String::new()),
            Some(live) => {
                let mut value = serde_json::to_value(&live).unwrap_or_default();
                value["kind"] = entry.kind.clone().into();
                match readiness::object(&value) {
                    Readiness::Ready => ("Ready".to_string(), String::new()),
                    Readiness::InProgress(what) => ("InProgress".to_string(), what),
                    Readiness::Failed(why) => ("Failed".to_string(), why),
                }
            }
        };
        Ok::<_, ClusterError>(ObjectStatus {
            object: entry.display(),
            state,
            detail,
        })
    }))
    .buffered(16)
    .try_collect()
    .await?;
    Ok(JobStatus { record, objects })
}
