//! The only module that talks to Kubernetes (docs/architecture.md): discovery, server-side apply in waves,
//! the job record, watching for readiness, and deletion.

pub mod apply;
pub mod cancel;
pub mod delete;
pub mod diff;
pub mod proxy;
pub mod record;
mod retry;
pub use retry::DEFAULT_BUDGET as DEFAULT_RETRY_BUDGET;
pub mod status;
pub mod unchanged;
pub mod wait;

use crate::diagnostics::Diagnostics;
use crate::manifest::Object;
use crate::preprocess::channels::{CHANNEL_LABEL, Registry};
use crate::preprocess::globals::{CONFIG_MAP as GLOBALS_CONFIG_MAP, ConfigMapContent};
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind};
use kube::core::{DynamicResourceScope, PartialObjectMeta, Resource};
use kube::discovery::{ApiCapabilities, Scope};
use kube::{Client, Config};
use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Mutex;

/// Objects per page of a LIST ([`Cluster::list_in_pages`]).
const LIST_PAGE_SIZE: u32 = 500;

/// The field manager of every write, so ownership of fields is visible in `managedFields`.
pub const FIELD_MANAGER: &str = "modelops-executor";

#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("cannot configure a Kubernetes client (KUBECONFIG or in-cluster service account)")]
    Config(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("{action}")]
    Api {
        action: String,
        #[source]
        source: kube::Error,
    },
    #[error("the cluster does not serve {api_version} {kind} (is its CRD installed?)")]
    UnknownKind { api_version: String, kind: String },
    #[error("refusing to touch objects that are not this job's:\n  - {}", .0.join("\n  - "))]
    NotOurs(Vec<String>),
    #[error("{object}: apply conflicts with field manager `{manager}`: {message}")]
    Conflict {
        object: String,
        manager: String,
        message: String,
    },
    #[error("namespace `{0}` does not exist (pass --create-namespace to create it)")]
    NamespaceMissing(String),
    #[error("no job record `{name}` in namespace `{namespace}`")]
    RecordMissing { name: String, namespace: String },
    #[error("invalid job record {name}: {reason}")]
    RecordInvalid { name: String, reason: String },
    #[error("scoring failed: {0}")]
    ScoringFailed(Box<wait::Failure>),
    #[error("deadline of {seconds}s exceeded while waiting for: {waiting_for}")]
    Deadline { seconds: u64, waiting_for: String },
    #[error("cancelled by {0}")]
    Cancelled(wait::Signal),
    #[error("objects with the job label remain after deletion: {0}")]
    Leftovers(String),
}

impl ClusterError {
    pub fn api(action: impl Into<String>, source: kube::Error) -> Self {
        ClusterError::Api {
            action: action.into(),
            source,
        }
    }
}

/// A client with a discovery cache keyed by group/version/kind, and how long each request is
/// retried.
#[derive(Clone)]
pub struct Cluster {
    pub client: Client,
    resources: Arc<Mutex<HashMap<GroupVersionKind, (ApiResource, ApiCapabilities)>>>,
    retry_budget: Duration,
}

impl Cluster {
    /// Connects with `KUBECONFIG` / `~/.kube/config`, or in-cluster credentials in a pod; each
    /// request is retried for up to `retry_budget` (`--api-retry-budget`).
    pub async fn connect(retry_budget: Duration) -> Result<Cluster, ClusterError> {
        let config = Config::infer()
            .await
            .map_err(|e| ClusterError::Config(Box::new(e)))?;
        Ok(Self::from_config(config)?.with_retry_budget(retry_budget))
    }

    /// The same client with another retry budget.
    pub fn with_retry_budget(mut self, retry_budget: Duration) -> Cluster {
        self.retry_budget = retry_budget;
        self
    }

    /// Runs `call` until it succeeds, fails permanently, or this handle's retry budget is used
    /// up (see [`retry::with_retry`]).
    pub async fn with_retry<T, F, Fut>(&self, what: &str, call: F) -> Result<T, kube::Error>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, kube::Error>>,
    {
        retry::with_retry(self.retry_budget, what, call).await
    }

    /// Lists in pages of [`LIST_PAGE_SIZE`], each retried like any request and handed to `take`
    /// before the next is asked for: a job's whole list of metadata at once (managedFields and
    /// all) was gigabytes at 100,000 objects.
    pub async fn list_in_pages<T, F, Fut>(
        &self,
        what: &str,
        params: kube::api::ListParams,
        list: F,
        mut take: impl FnMut(Vec<T>),
    ) -> Result<(), kube::Error>
    where
        T: Clone,
        F: Fn(kube::api::ListParams) -> Fut,
        Fut: Future<Output = Result<kube::core::ObjectList<T>, kube::Error>>,
    {
        let mut params = params.limit(LIST_PAGE_SIZE);
        loop {
            let page = self.with_retry(what, || list(params.clone())).await?;
            take(page.items);
            match page.metadata.continue_ {
                Some(token) if !token.is_empty() => params = params.continue_token(&token),
                _ => return Ok(()),
            }
        }
    }

    /// [`Cluster::with_retry`] with a budget of its own (never more than the handle's): for
    /// best-effort reads whose 5xx may be permanent, such as a pod's logs from an unreachable
    /// kubelet.
    pub async fn with_short_retry<T, F, Fut>(
        &self,
        budget: Duration,
        what: &str,
        call: F,
    ) -> Result<T, kube::Error>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, kube::Error>>,
    {
        retry::with_retry(budget.min(self.retry_budget), what, call).await
    }

    /// The client retries nothing itself (kube-client's default retry layer is off): the
    /// retries are [`Cluster::with_retry`]'s, which sees `Retry-After` through [`retry::carry_retry_after`].
    pub fn from_config(mut config: Config) -> Result<Cluster, ClusterError> {
        config.default_retry = false;
        let client = kube::client::ClientBuilder::try_from(config)
            .map_err(|e| ClusterError::Config(Box::new(e)))?
            .with_layer(&tower::util::AndThenLayer::new(retry::carry_retry_after))
            .build();
        Ok(Cluster {
            client,
            resources: Arc::default(),
            retry_budget: retry::DEFAULT_BUDGET,
        })
    }

    /// The API resource of a kind, from the cache or one discovery request.
    pub async fn resource(
        &self,
        api_version: &str,
        kind: &str,
    ) -> Result<(ApiResource, ApiCapabilities), ClusterError> {
        let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
        let gvk = GroupVersionKind::gvk(group, version, kind);
        if let Some(found) = self.resources.lock().await.get(&gvk) {
            return Ok(found.clone());
        }
        let found = self
            .with_retry(&format!("discover {api_version} {kind}"), || {
                kube::discovery::pinned_kind(&self.client, &gvk)
            })
            .await
            .map_err(|err| match &err {
                kube::Error::Api(status) if status.code == 404 => ClusterError::UnknownKind {
                    api_version: api_version.to_string(),
                    kind: kind.to_string(),
                },
                kube::Error::Discovery(_) => ClusterError::UnknownKind {
                    api_version: api_version.to_string(),
                    kind: kind.to_string(),
                },
                _ => ClusterError::api(format!("discover {api_version} {kind}"), err),
            })?;
        self.resources.lock().await.insert(gvk, found.clone());
        Ok(found)
    }

    /// Forgets discovered kinds, e.g. after CRDs were applied.
    pub async fn refresh_discovery(&self) {
        self.resources.lock().await.clear();
    }

    /// A dynamic API for an object's kind, namespaced when the kind is.
    pub async fn api(
        &self,
        api_version: &str,
        kind: &str,
        namespace: Option<&str>,
    ) -> Result<Api<DynamicObject>, ClusterError> {
        self.api_as(api_version, kind, namespace).await
    }

    /// Like [`Cluster::api`], but get, list and watch return metadata only (no spec, no status):
    /// for callers that decide on names, labels and uids, so they never hold whole objects.
    pub async fn metadata_api(
        &self,
        api_version: &str,
        kind: &str,
        namespace: Option<&str>,
    ) -> Result<Api<PartialObjectMeta<DynamicObject>>, ClusterError> {
        self.api_as(api_version, kind, namespace).await
    }

    /// Like `api`, read as `K`: a type that, like `DynamicObject`, takes its kind from discovery.
    pub async fn api_as<K>(
        &self,
        api_version: &str,
        kind: &str,
        namespace: Option<&str>,
    ) -> Result<Api<K>, ClusterError>
    where
        K: Resource<DynamicType = ApiResource, Scope = DynamicResourceScope>,
    {
        let (resource, capabilities) = self.resource(api_version, kind).await?;
        Ok(match (capabilities.scope, namespace) {
            (Scope::Namespaced, Some(namespace)) => {
                Api::namespaced_with(self.client.clone(), namespace, &resource)
            }
            _ => Api::all_with(self.client.clone(), &resource),
        })
    }

    pub async fn api_for(&self, object: &Object) -> Result<Api<DynamicObject>, ClusterError> {
        self.api(object.api_version(), object.kind(), object.namespace())
            .await
    }
}

/// The data channel registry as registered in the cluster: ConfigMaps labelled
/// `modelops.io/data-channel` in `namespace`.
pub async fn channel_registry(
    cluster: &Cluster,
    namespace: &str,
) -> Result<(Registry, Diagnostics), ClusterError> {
    let api: Api<k8s_openapi::api::core::v1::ConfigMap> =
        Api::namespaced(cluster.client.clone(), namespace);
    let params = kube::api::ListParams::default().labels(CHANNEL_LABEL);
    let list = cluster
        .with_retry("list data channels", || api.list(&params))
        .await
        .map_err(|e| {
            ClusterError::api(
                format!("list data channel ConfigMaps in namespace {namespace}"),
                e,
            )
        })?;
    let mut registry = Registry::default();
    let mut diagnostics = Diagnostics::default();
    for item in &list.items {
        let mut value = serde_json::to_value(item).unwrap_or_default();
        value["kind"] = "ConfigMap".into();
        let origin = crate::diagnostics::Origin::new(format!("namespace {namespace}"), 0);
        registry.add_config_map(origin, &value, &mut diagnostics);
    }
    tracing::info!(%namespace, channels = registry.len(), "data channel registry read from the cluster");
    Ok((registry, diagnostics))
}

/// The platform's global settings: the ConfigMap `modelops-globals` in `namespace`, or `None`
/// when there is none (not an error: a platform need not have one). Only its data keys and text
/// leave this function; nothing of the content is logged.
/// The key names of Secret `namespace/name` (its values are dropped unread), or `None` when there
/// is no such Secret (or no such namespace): install's check of the artifact credentials.
pub async fn secret_keys(
    cluster: &Cluster,
    namespace: &str,
    name: &str,
) -> Result<Option<std::collections::BTreeSet<String>>, ClusterError> {
    let api: Api<k8s_openapi::api::core::v1::Secret> =
        Api::namespaced(cluster.client.clone(), namespace);
    let found = cluster
        .with_retry("read the artifact credentials Secret", || api.get_opt(name))
        .await
        .map_err(|err| {
            let action = match &err {
                kube::Error::Api(status) if status.code == 403 => format!(
                    "not allowed to read Secret {namespace}/{name} (the artifact credentials the \
                     values name): grant `get` on it (tekton/rbac.yaml does for the default name)"
                ),
                _ => format!("cannot read Secret {namespace}/{name} (the artifact credentials)"),
            };
            ClusterError::api(action, err)
        })?;
    Ok(found.map(|secret| secret.data.unwrap_or_default().into_keys().collect()))
}

pub async fn globals_config_map(
    cluster: &Cluster,
    namespace: &str,
) -> Result<Option<ConfigMapContent>, ClusterError> {
    let api: Api<k8s_openapi::api::core::v1::ConfigMap> =
        Api::namespaced(cluster.client.clone(), namespace);
    let found = cluster.with_retry("read the globals ConfigMap", || api.get_opt(GLOBALS_CONFIG_MAP))
        .await
        .map_err(|err| {
            let action = match &err {
                kube::Error::Api(status) if status.code == 403 => format!(
                    "not allowed to read ConfigMap {namespace}/{GLOBALS_CONFIG_MAP} (the platform's \
                     global settings): grant `get` on configmaps in namespace {namespace}, name \
                     the namespace that holds it with --globals-namespace, or skip it with \
                     --globals-configmap=false"
                ),
                _ => format!(
                    "cannot read ConfigMap {namespace}/{GLOBALS_CONFIG_MAP} (the platform's global settings)"
                ),
            };
            ClusterError::api(action, err)
        })?;
    let Some(config_map) = found else {
        tracing::info!(
            %namespace,
            "no ConfigMap {GLOBALS_CONFIG_MAP}: no platform globals, only --globals FILE and chart defaults apply"
        );
        return Ok(None);
    };
    tracing::debug!(
        %namespace,
        resource_version = config_map.metadata.resource_version.as_deref().unwrap_or_default(),
        "ConfigMap {GLOBALS_CONFIG_MAP} read"
    );
    Ok(Some(ConfigMapContent {
        namespace: namespace.to_string(),
        data: config_map.data.unwrap_or_default(),
        binary_keys: config_map
            .binary_data
            .unwrap_or_default()
            .into_keys()
            .collect(),
    }))
}

/// Whether an error says the namespace itself does not exist.
pub fn is_namespace_missing(err: &kube::Error) -> bool {
    matches!(err, kube::Error::Api(status) if status.code == 404
        && status.details.as_ref().is_some_and(|d| d.kind == "namespaces"))
}
