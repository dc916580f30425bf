//! `validate`'s I/O (docs/validation.md): the job's scoring services and their model lists, and
//! HTTP to them through the API server's service proxy
//! (`/api/v1/namespaces/{ns}/services/{name}:{port}/proxy/...`), so the same command works from
//! a Tekton pod and from a laptop; RBAC: `services/proxy` (get, create) in the job's namespace.

use super::{Cluster, ClusterError, record};
use crate::k8s::ownership::LABEL_COMPONENT;
use crate::validate::check::Answer;
use crate::validate::{Service, Transport, TransportError};
use http_body_util::BodyExt;
use k8s_openapi::api::core::v1::{ConfigMap, Service as KubeService};
use kube::api::Api;
use serde_json::Value;
use std::time::Duration;

/// One service: its name, port and models.json (parsed by the caller).
pub struct ScoringService {
    pub name: String,
    pub port: u16,
    /// The `<service>-models` ConfigMap's name and its `models.json`.
    pub config_map: String,
    pub models: Value,
}

/// The job's scoring services: the Services of its record labelled `scoring-service`, each with
/// the model list the chart put in `<service>-models`.
pub async fn scoring_services(
    cluster: &Cluster,
    namespace: &str,
    job_id: &str,
) -> Result<Vec<ScoringService>, ClusterError> {
    let record = record::read_required(cluster, namespace, job_id).await?;
    let services: Api<KubeService> = Api::namespaced(cluster.client.clone(), namespace);
    let config_maps: Api<ConfigMap> = Api::namespaced(cluster.client.clone(), namespace);
    let mut found = Vec::new();
    for entry in record.inventory.iter().map(|e| &e.object).filter(|e| {
        e.kind == "Service" && e.api_version == "v1" && e.namespace.as_deref() == Some(namespace)
    }) {
        let action = format!("read service/{} in namespace {namespace}", entry.name);
        let Some(service) = cluster
            .with_retry(&action, || services.get_opt(&entry.name))
            .await
            .map_err(|e| ClusterError::api(action.clone(), e))?
        else {
            return Err(ClusterError::RecordInvalid {
                name: record.name(),
                reason: format!("service/{} of the job is missing (deleted?)", entry.name),
            });
        };
        let is_scoring = service
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(LABEL_COMPONENT))
            .is_some_and(|c| c == "scoring-service");
        if !is_scoring {
            continue;
        }
        let port = service
            .spec
            .as_ref()
            .and_then(|s| s.ports.as_ref())
            .and_then(|ports| ports.first())
            .and_then(|p| u16::try_from(p.port).ok())
            .ok_or_else(|| ClusterError::RecordInvalid {
                name: record.name(),
                reason: format!("service/{} has no port", entry.name),
            })?;
        let config_map = format!("{}-models", entry.name);
        let action = format!("read configmap/{config_map} in namespace {namespace}");
        let models = cluster
            .with_retry(&action, || config_maps.get_opt(&config_map))
            .await
            .map_err(|e| ClusterError::api(action.clone(), e))?
            .and_then(|cm| cm.data)
            .and_then(|data| data.get("models.json").cloned())
            .ok_or_else(|| ClusterError::RecordInvalid {
                name: record.name(),
                reason: format!(
                    "configmap/{config_map} (the models of service/{}) has no models.json",
                    entry.name
                ),
            })?;
        let models = serde_json::from_str(&models).map_err(|e| ClusterError::RecordInvalid {
            name: record.name(),
            reason: format!("configmap/{config_map}: models.json is not JSON: {e}"),
        })?;
        found.push(ScoringService {
            name: entry.name.clone(),
            port,
            config_map,
            models,
        });
    }
    Ok(found)
}

/// HTTP through the API server's service proxy.
pub struct ServiceProxy {
    cluster: Cluster,
    namespace: String,
    /// One request's limit: a server that hangs is asked again, not waited on forever.
    request_timeout: Duration,
}

impl ServiceProxy {
    pub fn new(cluster: &Cluster, namespace: &str, request_timeout: Duration) -> Self {
        ServiceProxy {
            cluster: cluster.clone(),
            namespace: namespace.to_string(),
            request_timeout,
        }
    }

    fn uri(&self, service: &Service, path: &str) -> String {
        format!(
            "/api/v1/namespaces/{}/services/{}:{}/proxy{path}",
            self.namespace, service.name, service.port
        )
    }

    async fn send(&self, request: http::Request<Vec<u8>>) -> Result<Answer, TransportError> {
        let what = format!("{} {}", request.method(), request.uri());
        let request = request.map(kube::client::Body::from);
        let exchange = async {
            let response = self.cluster.client.send(request).await?;
            let status = response.status().as_u16();
            let body = response.into_body().collect().await?.to_bytes();
            Ok::<_, kube::Error>(Answer {
                status,
                body: String::from_utf8_lossy(&body).into_owned(),
            })
        };
        let answer = match tokio::time::timeout(self.request_timeout, exchange).await {
            Err(_) => {
                return Err(TransportError::Retryable(format!(
                    "no answer within {}s",
                    self.request_timeout.as_secs()
                )));
            }
            Ok(Err(err)) => return Err(TransportError::Retryable(format!("{what}: {err}"))),
            Ok(Ok(answer)) => answer,
        };
        if let Some(refusal) = api_server_refusal(&answer) {
            return Err(TransportError::Fatal(refusal));
        }
        Ok(answer)
    }
}

/// The API server's own 401/403 (a `Status`, not the model server's answer): no retry helps.
fn api_server_refusal(answer: &Answer) -> Option<String> {
    if !matches!(answer.status, 401 | 403) {
        return None;
    }
    let value: Value = serde_json::from_str(&answer.body).ok()?;
    if value.get("kind").and_then(Value::as_str) != Some("Status") {
        return None;
    }
    let status: kube::core::Status = serde_json::from_value(value).ok()?;
    Some(format!(
        "the API server answered {} (the task's Role needs `services/proxy` get and create in the job's namespace)",
        crate::error_chain::describe_status(&status)
    ))
}

impl Transport for ServiceProxy {
    async fn get(&self, service: &Service, path: &str) -> Result<Answer, TransportError> {
        let request = http::Request::get(self.uri(service, path))
            .body(Vec::new())
            .map_err(|e| TransportError::Fatal(e.to_string()))?;
        self.send(request).await
    }

    async fn post(
        &self,
        service: &Service,
        path: &str,
        body: &Value,
    ) -> Result<Answer, TransportError> {
        let request = http::Request::post(self.uri(service, path))
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(body.to_string().into_bytes())
            .map_err(|e| TransportError::Fatal(e.to_string()))?;
        self.send(request).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_api_servers_own_refusal_is_fatal() {
        let forbidden = Answer {
            status: 403,
            body: r#"{"kind":"Status","apiVersion":"v1","status":"Failure","message":"services \"iris\" is forbidden: User \"x\" cannot get resource \"services/proxy\"","reason":"Forbidden","code":403}"#.into(),
        };
        let refusal = api_server_refusal(&forbidden).unwrap();
        assert!(refusal.contains("403 Forbidden"), "{refusal}");
        assert!(refusal.contains("services/proxy"), "{refusal}");
        // A model server's own 403 is its answer, judged like any other.
        let from_server = Answer {
            status: 403,
            body: "{\"error\":\"no\"}".into(),
        };
        assert_eq!(api_server_refusal(&from_server), None);
        let unavailable = Answer {
            status: 503,
            body: forbidden.body.clone(),
        };
        assert_eq!(api_server_refusal(&unavailable), None);
    }
}
