//! `install` on a cluster: ownership preflight, the job record first, server-side apply in waves
//! with bounded concurrency, waits between waves, and pruning of what is no longer rendered.

use super::delete::{self, Cascade, DeleteOptions};
use super::record::{self, InventoryEntry, JobRecord, Task};
use super::unchanged::{self, Live};
use super::wait::{self, Signal, Until, WaitOptions};
use super::{Cluster, ClusterError, FIELD_MANAGER};
use crate::k8s::kinds::Wave;
use crate::k8s::ownership::{
    self, LABEL_COMPONENT, LABEL_MANAGED_BY, Labels, MANAGED_BY, Ownership,
};
use crate::k8s::{ObjectKey, ObjectRef};
use crate::manifest::Object;
use crate::readiness::Policy;
use futures::{StreamExt, TryStreamExt, stream};
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, ListParams, ObjectMeta, Patch, PatchParams, PostParams};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::time::{Duration, Instant};

pub struct InstallOptions {
    pub concurrency: usize,
    pub dry_run: bool,
    pub create_namespace: bool,
    pub deadline: Option<Duration>,
    pub policy: Policy,
}

/// What the job's values say about it, for the record.
pub struct JobInfo {
    pub job_id: String,
    pub namespace: String,
    pub pipeline: String,
    pub mode: String,
    pub values_digest: String,
    pub pipeline_run: Option<record::PipelineRunRef>,
}

/// Applies the objects (already in install order) and records everything in the job record.
/// On failure the record says `Failed` with the reason, and what was applied is in its inventory.
pub async fn install(
    cluster: &Cluster,
    job: &JobInfo,
    objects: &[Object],
    options: &InstallOptions,
    cancel: impl std::future::Future<Output = Signal>,
) -> Result<JobRecord, ClusterError> {
    let started = Instant::now();
    let namespace = ensure_namespace(
        cluster,
        &job.namespace,
        options.create_namespace,
        options.dry_run,
    )
    .await?;
    // Objects of kinds that the plan's own CRDs define cannot be looked up before those CRDs
    // are Established: they are checked after the Definitions wave (`k8s::kinds`).
    let defined = kinds_defined_by_crds(objects);
    let (known, deferred): (Vec<&Object>, Vec<&Object>) =
        objects.iter().partition(|o| !is_defined_by(&defined, o));
    if options.dry_run {
        return dry_run(cluster, job, objects, &defined, namespace, options).await;
    }

    let live = preflight(cluster, &known, &job.job_id, options.concurrency).await?;
    let (mut record, previous) = begin(cluster, job, objects).await?;

    let outcome = apply_waves(
        cluster,
        job,
        objects,
        Plan {
            unchanged: unchanged::unchanged(&known, &live, &previous),
            deferred: &deferred,
            previous: &previous,
        },
        options,
        &mut record,
        cancel,
    )
    .await;
    let outcome = match outcome {
        Ok(()) => prune(cluster, job, objects, &previous, options).await,
        Err(err) => Err(err),
    };
    finish(cluster, &mut record, objects, outcome, started).await?;
    Ok(record)
}

/// `--dry-run=server`: every wave the API server can check is sent with `dryRun=All`; the
/// record returned lists the plan and is never written.
async fn dry_run(
    cluster: &Cluster,
    job: &JobInfo,
    objects: &[Object],
    defined: &BTreeSet<(String, String)>,
    namespace: NamespaceState,
    options: &InstallOptions,
) -> Result<JobRecord, ClusterError> {
    let mut checkable = dry_run_checkable(cluster, objects, defined).await?;
    if namespace == NamespaceState::OnlyPlanned {
        // The API server checks a namespaced object only in a namespace that exists.
        let (namespaced, rest): (Vec<&Object>, Vec<&Object>) =
            checkable.into_iter().partition(|o| o.namespace().is_some());
        if !namespaced.is_empty() {
            tracing::warn!(
                namespace = %job.namespace,
                objects = namespaced.len(),
                "dry run: the namespaced objects are not checked by the API server: their namespace does not exist yet (--create-namespace creates it, a dry run does not)"
            );
        }
        checkable = rest;
    }
    preflight(cluster, &checkable, &job.job_id, options.concurrency).await?;
    for (wave, members) in waves(checkable.iter().copied()) {
        apply_wave(
            cluster,
            &members,
            &HashMap::new(),
            options.concurrency,
            true,
        )
        .await?;
        tracing::info!(
            ?wave,
            objects = members.len(),
            "dry run: the API server accepted the wave"
        );
    }
    let mut record = new_record(job);
    record.plan(objects);
    Ok(record)
}

fn new_record(job: &JobInfo) -> JobRecord {
    JobRecord::new(
        &job.job_id,
        &job.namespace,
        &job.pipeline,
        &job.mode,
        &job.values_digest,
    )
}

/// The job record at the start of install: the existing one (a re-install) or a new one,
/// `Installing`, listing every object before the first one is applied; and the inventory it had
/// before (what a re-install may have to prune).
async fn begin(
    cluster: &Cluster,
    job: &JobInfo,
    objects: &[Object],
) -> Result<(JobRecord, Vec<InventoryEntry>), ClusterError> {
    let mut record = match record::read(cluster, &job.namespace, &job.job_id).await? {
        Some(existing) => existing,
        None => new_record(job),
    };
    let previous = record.inventory.clone();
    record.values_digest = job.values_digest.clone();
    record.begin(Task::Install);
    record.pipeline_run = job.pipeline_run.clone();
    // The record lists every object before the first one is applied: a crash at any point
    // leaves finally a complete list. When the record already lists them all, that holds without
    // a write, and the record is next written with the outcome (if that changes anything): a
    // re-install with the same inputs writes nothing at all.
    let planned = record.plan(objects);
    if planned || !record.is_stored() {
        record::write(cluster, &mut record).await?;
        tracing::info!(record = %record.name(), objects = objects.len(), "job record written; applying");
    } else {
        tracing::info!(record = %record.name(), objects = objects.len(), "job record already lists every object; applying");
    }
    Ok((record, previous))
}

/// Records install's outcome: `Installed` with the endpoints, or `Failed`/`Cancelled` with the
/// reason (best effort: the install is failing already).
async fn finish(
    cluster: &Cluster,
    record: &mut JobRecord,
    objects: &[Object],
    outcome: Result<(), ClusterError>,
    started: Instant,
) -> Result<(), ClusterError> {
    match outcome {
        Ok(()) => {
            record.retain_rendered(objects);
            record.endpoints = endpoints(objects);
            record.succeeded();
            record::write(cluster, record).await?;
            tracing::info!(
                objects = objects.len(),
                seconds = started.elapsed().as_secs_f32(),
                "installed"
            );
            Ok(())
        }
        Err(err) => {
            record.ended_by(&err);
            if let Err(write_err) = record::write(cluster, record).await {
                tracing::error!(error = %write_err, "could not record the failure in the job record");
            }
            Err(err)
        }
    }
}

/// What install knows of the objects before applying them.
struct Plan<'a> {
    /// The objects whose apply would change nothing (`cluster::unchanged`), with their entries.
    unchanged: HashMap<ObjectKey<'a>, InventoryEntry>,
    /// The objects of kinds the plan's CRDs define, preflighted once those are served.
    deferred: &'a [&'a Object],
    /// The inventory before this install.
    previous: &'a [InventoryEntry],
}

async fn apply_waves<'a>(
    cluster: &Cluster,
    job: &JobInfo,
    objects: &'a [Object],
    mut plan: Plan<'a>,
    options: &InstallOptions,
    record: &mut JobRecord,
    cancel: impl std::future::Future<Output = Signal>,
) -> Result<(), ClusterError> {
    let deadline = options.deadline.map(|d| Instant::now() + d);
    tokio::pin!(cancel);
    for (wave, members) in waves(objects) {
        let applied = tokio::select! {
            signal = &mut cancel => return Err(ClusterError::Cancelled(signal)),
            applied = apply_wave(cluster, &members, &plan.unchanged, options.concurrency, false) => applied,
        };
        let applied = applied?;
        // Only new uids (objects created or re-created) are worth a write before the next wave.
        if record.set_applied(&applied) {
            record::write(cluster, record).await?;
        }
        let unchanged = members
            .iter()
            .filter(|o| plan.unchanged.contains_key(&o.key()))
            .count();
        tracing::info!(?wave, objects = members.len(), unchanged, "applied");
        let awaited: Vec<ObjectRef> = match wave {
            Wave::Definitions => members.iter().map(|o| o.object_ref()).collect(),
            // Flows must not start before the scoring services they call are ready.
            Wave::ScoringServices => members
                .iter()
                .filter(|o| o.component() != Some(ownership::SCORING_FLOW))
                .map(|o| o.object_ref())
                .collect(),
            _ => Vec::new(),
        };
        if awaited.is_empty() {
            continue;
        }
        tracing::info!(
            ?wave,
            objects = awaited.len(),
            "waiting until ready before the next wave"
        );
        let remaining = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        let wait_options = WaitOptions {
            namespace: job.namespace.clone(),
            job_id: job.job_id.clone(),
            deadline: remaining,
            policy: options.policy,
            until: Until::AllReady,
            with_flows: false,
        };
        if wave == Wave::Definitions {
            wait_crds(cluster, &awaited, remaining, &mut cancel).await?;
            cluster.refresh_discovery().await;
            await_served(cluster, plan.deferred, deadline).await?;
            let live = preflight(cluster, plan.deferred, &job.job_id, options.concurrency).await?;
            plan.unchanged
                .extend(unchanged::unchanged(plan.deferred, &live, plan.previous));
        } else {
            wait::wait_for(cluster, &awaited, &wait_options, &mut cancel).await?;
        }
    }
    Ok(())
}

/// CRDs are cluster-scoped and carry no job label: await each by name, with a watch that rides
/// out throttling and broken connections like every other request (`watch_with_backoff`).
async fn wait_crds(
    cluster: &Cluster,
    crds: &[ObjectRef],
    deadline: Option<Duration>,
    cancel: &mut (impl std::future::Future<Output = Signal> + Unpin),
) -> Result<(), ClusterError> {
    let api: Api<CustomResourceDefinition> = Api::all(cluster.client.clone());
    let all = futures::future::try_join_all(
        crds.iter()
            .map(|crd| await_established(api.clone(), crd.name.clone())),
    );
    let limit = deadline.unwrap_or(Duration::from_secs(300));
    tokio::select! {
        signal = cancel => Err(ClusterError::Cancelled(signal)),
        result = tokio::time::timeout(limit, all) => match result {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(err)) => Err(ClusterError::api("wait for CRDs", kube::Error::Service(Box::new(err)))),
            Err(_) => Err(ClusterError::Deadline { seconds: limit.as_secs(), waiting_for: "CRDs to become Established".into() }),
        },
    }
}

/// Until discovery lists the kinds of `objects`: the API server serves a CRD's resource a moment
/// after the CRD reports Established. Bounded by the install deadline (else 60 s).
async fn await_served(
    cluster: &Cluster,
    objects: &[&Object],
    deadline: Option<Instant>,
) -> Result<(), ClusterError> {
    let kinds: BTreeSet<(&str, &str)> = objects
        .iter()
        .map(|o| (o.api_version(), o.kind()))
        .collect();
    let give_up = deadline.unwrap_or_else(|| Instant::now() + Duration::from_secs(60));
    for (api_version, kind) in kinds {
        loop {
            match cluster.resource(api_version, kind).await {
                Ok(_) => break,
                Err(ClusterError::UnknownKind { .. }) if Instant::now() < give_up => {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(err) => return Err(err),
            }
        }
    }
    Ok(())
}

async fn await_established(
    api: Api<CustomResourceDefinition>,
    name: String,
) -> Result<(), kube::runtime::watcher::Error> {
    use kube::runtime::wait::{Condition, conditions};
    use kube::runtime::watcher;
    let established = conditions::is_crd_established();
    let config = watcher::Config::default().fields(&format!("metadata.name={name}"));
    let mut stream = std::pin::pin!(super::retry::watch_with_backoff(watcher::watcher(
        api, config
    )));
    while let Some(event) = stream.next().await {
        match event {
            Ok(watcher::Event::Apply(crd) | watcher::Event::InitApply(crd))
                if established.matches_object(Some(&crd)) =>
            {
                return Ok(());
            }
            Ok(_) => {}
            // Throttled or a broken connection: the watcher lists again after a backoff; the
            // caller's deadline bounds how long.
            Err(err) if super::retry::is_transient_watch_error(&err) => {
                tracing::warn!(crd = %name, error = %err, "watch of the CRD interrupted, resuming");
            }
            Err(err) => return Err(err),
        }
    }
    Ok(())
}

/// The (apiVersion, kind) pairs that the plan's CustomResourceDefinitions define.
pub fn kinds_defined_by_crds(objects: &[Object]) -> BTreeSet<(String, String)> {
    let mut kinds = BTreeSet::new();
    for crd in objects
        .iter()
        .filter(|o| o.kind() == "CustomResourceDefinition")
    {
        let spec = &crd.value["spec"];
        let (Some(group), Some(kind)) = (spec["group"].as_str(), spec["names"]["kind"].as_str())
        else {
            continue;
        };
        for version in spec["versions"].as_array().into_iter().flatten() {
            if let Some(version) = version["name"].as_str() {
                kinds.insert((format!("{group}/{version}"), kind.to_string()));
            }
        }
    }
    kinds
}

fn is_defined_by(defined: &BTreeSet<(String, String)>, object: &Object) -> bool {
    !defined.is_empty()
        && defined.contains(&(object.api_version().to_string(), object.kind().to_string()))
}

/// What a server-side dry run can check: a dry run creates no CRD, so objects of a kind that only
/// the plan's CRDs define (not served yet) are left out, with a warning naming them; once the
/// CRDs exist (a re-install) they are checked like the rest.
async fn dry_run_checkable<'a>(
    cluster: &Cluster,
    objects: &'a [Object],
    defined: &BTreeSet<(String, String)>,
) -> Result<Vec<&'a Object>, ClusterError> {
    let mut checkable = Vec::with_capacity(objects.len());
    let mut unchecked = Vec::new();
    let mut served: BTreeMap<(String, String), bool> = BTreeMap::new();
    for object in objects {
        if is_defined_by(defined, object) {
            let key = (object.api_version().to_string(), object.kind().to_string());
            let is_served = match served.get(&key) {
                Some(known) => *known,
                None => {
                    let known = match cluster.resource(&key.0, &key.1).await {
                        Ok(_) => true,
                        Err(ClusterError::UnknownKind { .. }) => false,
                        Err(err) => return Err(err),
                    };
                    served.insert(key, known);
                    known
                }
            };
            if !is_served {
                unchecked.push(object.display());
                continue;
            }
        }
        checkable.push(object);
    }
    if !unchecked.is_empty() {
        tracing::warn!(
            objects = %unchecked.join(", "),
            "dry run: not checked by the API server, their kinds are defined by this chart's CRDs, which a dry run does not create"
        );
    }
    Ok(checkable)
}

/// Groups objects (in install order) into consecutive waves.
pub fn waves<'a>(objects: impl IntoIterator<Item = &'a Object>) -> Vec<(Wave, Vec<&'a Object>)> {
    let mut out: Vec<(Wave, Vec<&Object>)> = Vec::new();
    for object in objects {
        let wave = object.wave();
        match out.last_mut() {
            Some((last, members)) if *last == wave => members.push(object),
            _ => out.push((wave, vec![object])),
        }
    }
    out
}

/// Applies the wave's objects but those proven `unchanged`, which keep their entries.
async fn apply_wave(
    cluster: &Cluster,
    objects: &[&Object],
    unchanged: &HashMap<ObjectKey<'_>, InventoryEntry>,
    concurrency: usize,
    dry_run: bool,
) -> Result<Vec<InventoryEntry>, ClusterError> {
    stream::iter(objects.iter().map(|object| async move {
        if let Some(entry) = unchanged.get(&object.key()) {
            return Ok(entry.clone());
        }
        let applied = apply_one(cluster, object, dry_run).await?;
        Ok::<_, ClusterError>(unchanged::entry_after_apply(object, &applied))
    }))
    .buffer_unordered(concurrency.max(1))
    .try_collect()
    .await
}

/// Server-side apply without force: a field owned by another manager is a reported conflict,
/// never silently taken over. Only the metadata of the applied object comes back (the uid is all
/// the record needs), which spares the API server encoding and the client parsing whole objects.
pub async fn apply_one(
    cluster: &Cluster,
    object: &Object,
    dry_run: bool,
) -> Result<ObjectMeta, ClusterError> {
    let api = cluster
        .metadata_api(object.api_version(), object.kind(), object.namespace())
        .await?;
    let mut params = PatchParams::apply(FIELD_MANAGER);
    params.dry_run = dry_run;
    let action = format!("apply {}", object.display());
    let patch = Patch::Apply(&object.value);
    let applied = cluster
        .with_retry(&action, || api.patch(object.name(), &params, &patch))
        .await;
    match applied {
        // A Job's pod template is immutable: a changed flow replaces its Job (ours, checked by
        // the preflight), as a re-run of a batch flow with new configuration should.
        Err(kube::Error::Api(status)) if is_immutable_job(object, &status) => {
            let live = cluster
                .with_retry(&action, || api.get(object.name()))
                .await
                .map_err(|e| ClusterError::api(format!("read {}", object.display()), e))?;
            if dry_run {
                // A dry run cannot delete, and a dry-run create of the same name would only say
                // it exists: report the replacement the real install would make.
                tracing::info!(object = %object.display(), "dry run: pod template changed; install would replace the Job");
                return Ok(live.metadata);
            }
            tracing::info!(object = %object.display(), "pod template changed; replacing the Job");
            let uid = live.metadata.uid.clone().unwrap_or_default();
            super::delete::delete_and_wait(cluster, object, &uid, false, REPLACE_DEADLINE).await?;
            cluster
                .with_retry(&action, || api.patch(object.name(), &params, &patch))
                .await
                .map(|applied| applied.metadata)
                .map_err(|err| apply_error(object, action.clone(), err))
        }
        other => other
            .map(|applied| applied.metadata)
            .map_err(|err| apply_error(object, action, err)),
    }
}

const REPLACE_DEADLINE: Duration = Duration::from_secs(120);

fn is_immutable_job(object: &Object, status: &kube::core::Status) -> bool {
    object.kind() == "Job" && status.code == 422 && status.message.contains("field is immutable")
}

fn apply_error(object: &Object, action: String, err: kube::Error) -> ClusterError {
    match err {
        kube::Error::Api(status) if status.code == 409 => ClusterError::Conflict {
            object: object.display(),
            manager: conflicting_manager(&status.message).unwrap_or_else(|| "unknown".into()),
            message: status.message.clone(),
        },
        other => ClusterError::api(action, other),
    }
}

/// `Apply failed with 1 conflict: conflict with "kubectl-edit" using apps/v1: .spec.replicas`
fn conflicting_manager(message: &str) -> Option<String> {
    let start = message.find("conflict with \"")? + "conflict with \"".len();
    let end = message[start..].find('"')? + start;
    Some(message[start..end].to_string())
}

/// Refuses, before anything is written, if an object of the plan exists and is not this job's;
/// returns what it read of the job's own objects that exist (for `cluster::unchanged`).
///
/// Namespaced objects are checked with one paginated metadata LIST per kind and namespace (what
/// else lives there does not matter: only names of the plan are looked at), so the cost is a
/// handful of requests rather than one read per object; cluster-scoped objects, and kinds the
/// executor may not list, are read one by one.
pub async fn preflight<'a>(
    cluster: &Cluster,
    objects: &[&'a Object],
    job_id: &str,
    concurrency: usize,
) -> Result<HashMap<ObjectKey<'a>, Live>, ClusterError> {
    let job_label = ownership::job_label(job_id);
    let mut by_kind: BTreeMap<(&str, &str, &str), Vec<&'a Object>> = BTreeMap::new();
    let mut one_by_one: Vec<&'a Object> = Vec::new();
    for object in objects {
        match object.namespace() {
            Some(namespace) => by_kind
                .entry((object.api_version(), object.kind(), namespace))
                .or_default()
                .push(object),
            None => one_by_one.push(object),
        }
    }
    let listed: Vec<(Vec<Checked<'a>>, Vec<&'a Object>)> = stream::iter(by_kind.into_iter().map(
        |((api_version, kind, namespace), members)| {
            let job_label = &job_label;
            async move {
                let by_name: HashMap<&str, &'a Object> = members
                    .iter()
                    .map(|object| (object.name(), *object))
                    .collect();
                match list_checked(cluster, (api_version, kind, namespace), &by_name, job_label)
                    .await?
                {
                    Some(checked) => Ok::<_, ClusterError>((checked, Vec::new())),
                    None => Ok((Vec::new(), members)),
                }
            }
        },
    ))
    .buffer_unordered(concurrency.max(1))
    .try_collect()
    .await?;
    let mut checked: Vec<Checked> = Vec::new();
    for (found, unlisted) in listed {
        checked.extend(found);
        one_by_one.extend(unlisted);
    }
    let read: Vec<Option<Checked>> = stream::iter(one_by_one.into_iter().map(|object| {
        let job_label = &job_label;
        async move {
            let api = cluster.api_for(object).await?;
            let live = cluster
                .with_retry(&format!("read {}", object.display()), || {
                    api.get_metadata_opt(object.name())
                })
                .await
                .map_err(|e| ClusterError::api(format!("read {}", object.display()), e))?;
            Ok::<_, ClusterError>(live.map(|live| check(object, &live.metadata, job_label)))
        }
    }))
    .buffer_unordered(concurrency.max(1))
    .try_collect()
    .await?;
    checked.extend(read.into_iter().flatten());
    let mut problems = Vec::new();
    let mut ours = HashMap::new();
    for (key, outcome) in checked {
        match outcome {
            Ok(live) => {
                ours.insert(key, live);
            }
            Err(problem) => problems.push(problem),
        }
    }
    problems.sort();
    if problems.is_empty() {
        Ok(ours)
    } else {
        Err(ClusterError::NotOurs(problems))
    }
}

/// An existing object of the plan: this job's (what was read of it), or why it is not.
type Checked<'a> = (ObjectKey<'a>, Result<Live, String>);

fn check<'a>(object: &'a Object, meta: &ObjectMeta, job_label: &str) -> Checked<'a> {
    let outcome = match ownership_problem(object, meta.labels.as_ref(), job_label) {
        None => Ok(Live::of(meta)),
        Some(problem) => Err(problem),
    };
    (object.key(), outcome)
}

/// Lists a kind in a namespace (metadata only, 500 per page) and checks the plan's objects of
/// that kind found there, page by page (what else the page holds is dropped with it); `None` when
/// the executor may not list the kind.
async fn list_checked<'a>(
    cluster: &Cluster,
    (api_version, kind, namespace): (&str, &str, &str),
    plan: &HashMap<&str, &'a Object>,
    job_label: &str,
) -> Result<Option<Vec<Checked<'a>>>, ClusterError> {
    let api = cluster.api(api_version, kind, Some(namespace)).await?;
    let mut checked = Vec::new();
    let action = format!("list {kind} in namespace {namespace}");
    let listed = cluster
        .list_in_pages(
            &action,
            ListParams::default(),
            |params| {
                let api = api.clone();
                async move { api.list_metadata(&params).await }
            },
            |items| {
                for item in &items {
                    if let Some(object) = item.metadata.name.as_deref().and_then(|n| plan.get(n)) {
                        checked.push(check(object, &item.metadata, job_label));
                    }
                }
            },
        )
        .await;
    match listed {
        Ok(()) => Ok(Some(checked)),
        Err(kube::Error::Api(status)) if status.code == 403 => Ok(None),
        Err(err) => Err(ClusterError::api(action, err)),
    }
}

fn ownership_problem(object: &Object, labels: Option<&Labels>, job_label: &str) -> Option<String> {
    let where_ = object
        .namespace()
        .map(|n| format!(" in namespace {n}"))
        .unwrap_or_default();
    let object = object.display();
    match ownership::ownership(labels, job_label) {
        Ownership::Ours => None,
        Ownership::OtherJob(other) => Some(format!("{object}{where_} belongs to job `{other}`")),
        Ownership::NoJobLabel => Some(format!(
            "{object}{where_} is managed by modelops-executor but has no job label"
        )),
        Ownership::NotManaged(manager) => Some(format!(
            "{object}{where_} exists and is not managed by modelops-executor ({})",
            manager
                .map(|m| format!("managed by `{m}`"))
                .unwrap_or_else(|| "no managed-by label".into())
        )),
    }
}

/// What [`ensure_namespace`] left: the job's namespace exists (or was not asked about), or a dry
/// run found it missing and only checked that it could be created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NamespaceState {
    Ready,
    OnlyPlanned,
}

/// Creates the namespace when asked to. Without `--create-namespace` nothing cluster-scoped is
/// touched, so the task's namespaced Role suffices; a missing namespace then shows up as a clear
/// error on the first namespaced request.
async fn ensure_namespace(
    cluster: &Cluster,
    namespace: &str,
    create: bool,
    dry_run: bool,
) -> Result<NamespaceState, ClusterError> {
    if !create {
        return Ok(NamespaceState::Ready);
    }
    let api: Api<Namespace> = Api::all(cluster.client.clone());
    let body: Namespace = serde_json::from_value(serde_json::json!({
        "metadata": {"name": namespace, "labels": {LABEL_MANAGED_BY: MANAGED_BY}}
    }))
    .expect("a valid namespace");
    let params = PostParams {
        dry_run,
        field_manager: Some(FIELD_MANAGER.to_string()),
    };
    let action = format!("create namespace {namespace}");
    // A retried create whose first attempt went through answers 409: the namespace exists.
    match cluster
        .with_retry(&action, || api.create(&params, &body))
        .await
    {
        Ok(_) if dry_run => {
            tracing::info!(%namespace, "dry run: the namespace would be created");
            Ok(NamespaceState::OnlyPlanned)
        }
        Ok(_) => {
            tracing::info!(%namespace, "namespace created");
            Ok(NamespaceState::Ready)
        }
        Err(kube::Error::Api(status)) if status.code == 409 => Ok(NamespaceState::Ready),
        Err(err) => Err(ClusterError::api(action, err)),
    }
}

/// Deletes what an earlier install of this job applied and this one no longer renders.
async fn prune(
    cluster: &Cluster,
    job: &JobInfo,
    objects: &[Object],
    previous: &[InventoryEntry],
    options: &InstallOptions,
) -> Result<(), ClusterError> {
    let rendered: HashSet<ObjectKey> = objects.iter().map(Object::key).collect();
    let stale: Vec<InventoryEntry> = previous
        .iter()
        .filter(|entry| !rendered.contains(&entry.key()))
        .cloned()
        .collect();
    if stale.is_empty() {
        return Ok(());
    }
    tracing::info!(objects = stale.len(), "pruning objects no longer rendered");
    // Foreground, as before finally had a choice: a pruned flow's pods are gone when install
    // returns.
    let options = DeleteOptions {
        force: false,
        deadline: options.deadline,
        concurrency: options.concurrency,
        cascade: Cascade::Foreground,
    };
    delete::delete_entries(cluster, &job.job_id, stale, &options).await
}

/// Scoring service URLs: `http://<service>.<namespace>.svc:<port>`.
fn endpoints(objects: &[Object]) -> Vec<String> {
    objects
        .iter()
        .filter(|o| o.kind() == "Service" && o.label(LABEL_COMPONENT) == Some("scoring-service"))
        .map(|o| {
            let port = o
                .value
                .pointer("/spec/ports/0/port")
                .and_then(serde_json::Value::as_i64)
                .unwrap_or(80);
            format!(
                "http://{}.{}.svc:{port}",
                o.name(),
                o.namespace().unwrap_or("default")
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_conflicting_manager() {
        let message = "Apply failed with 1 conflict: conflict with \"kubectl-edit\" using apps/v1: .spec.replicas";
        assert_eq!(
            conflicting_manager(message).as_deref(),
            Some("kubectl-edit")
        );
        assert_eq!(conflicting_manager("other"), None);
    }

    fn object(yaml: &str) -> Object {
        Object {
            template: "t.yaml".into(),
            document: 0,
            value: crate::yaml::parse_one(yaml).unwrap(),
        }
    }

    #[test]
    fn the_kinds_of_the_plans_crds_are_deferred() {
        let objects = [
            object(
                "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: widgets.x.io}\nspec: {group: x.io, names: {kind: Widget, plural: widgets}, versions: [{name: v1}, {name: v2}]}",
            ),
            object("apiVersion: x.io/v2\nkind: Widget\nmetadata: {name: w}"),
            object("apiVersion: y.io/v1\nkind: Widget\nmetadata: {name: other}"),
            object("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}"),
        ];
        let defined = kinds_defined_by_crds(&objects);
        assert_eq!(
            defined.iter().cloned().collect::<Vec<_>>(),
            [
                ("x.io/v1".to_string(), "Widget".to_string()),
                ("x.io/v2".to_string(), "Widget".to_string())
            ]
        );
        let deferred: Vec<&str> = objects
            .iter()
            .filter(|o| is_defined_by(&defined, o))
            .map(Object::name)
            .collect();
        assert_eq!(deferred, ["w"]);
    }
}
