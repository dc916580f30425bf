//! `cancel` on a cluster: a job that a Tekton PipelineRun runs is cancelled through that run
//! (`CancelledRunFinally`: Tekton stops install or wait and still runs finally, which removes the
//! job); any other job is marked Cancelled here and removed as finally would.

use super::delete::{self, DeleteOptions};
use super::record::{self, JobRecord, Phase, PipelineRunRef};
use super::{Cluster, ClusterError};
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams};
use serde_json::{Value, json};

/// The PipelineRun status a graceful cancel sets (Tekton: cancel the running tasks, then run the
/// finally tasks).
pub const CANCELLED_RUN_FINALLY: &str = "CancelledRunFinally";

/// What `cancel` did.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The job was removed already; nothing was done.
    Uninstalled,
    /// The PipelineRun was asked to cancel (or already was); its finally task removes the job.
    PipelineRunCancelled { run: PipelineRunRef, already: bool },
    /// Removed here (recorded Cancelled first unless it had an outcome): the objects deleted.
    Removed { deleted: usize },
}

/// Whether the phase is the outcome of a job that ran (kept, so a cancel does not rewrite a
/// finished job's result).
fn is_outcome(phase: Phase) -> bool {
    matches!(phase, Phase::Succeeded | Phase::Failed | Phase::Cancelled)
}

/// What a PipelineRun's object says about cancelling it.
#[derive(Debug, PartialEq, Eq)]
enum RunState {
    /// Done (a `Succeeded` condition that is True or False): it can no longer be cancelled.
    Done,
    /// `spec.status` already asks to cancel or stop it (this value).
    Stopping(String),
    Running,
}

fn run_state(run: &Value) -> RunState {
    let done = run["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|c| c["type"] == "Succeeded" && (c["status"] == "True" || c["status"] == "False"));
    if done {
        return RunState::Done;
    }
    match run["spec"]["status"].as_str() {
        // A pending run (`PipelineRunPending`) has not started: it is cancelled like a running one.
        Some(status @ ("Cancelled" | CANCELLED_RUN_FINALLY | "StoppedRunFinally")) => {
            RunState::Stopping(status.to_string())
        }
        _ => RunState::Running,
    }
}

fn pipeline_runs(cluster: &Cluster, namespace: &str) -> Api<DynamicObject> {
    let resource = ApiResource::from_gvk(&GroupVersionKind::gvk("tekton.dev", "v1", "PipelineRun"));
    Api::namespaced_with(cluster.client.clone(), namespace, &resource)
}

/// Cancels the job `job_id` in `namespace`; safe to repeat.
pub async fn cancel(
    cluster: &Cluster,
    namespace: &str,
    job_id: &str,
    options: &DeleteOptions,
) -> Result<Outcome, ClusterError> {
    let mut job = record::read_required(cluster, namespace, job_id).await?;
    if job.phase == Phase::Uninstalled {
        return Ok(Outcome::Uninstalled);
    }
    if let Some(run) = job.pipeline_run.clone()
        && let Some(already) = cancel_pipeline_run(cluster, &run).await?
    {
        return Ok(Outcome::PipelineRunCancelled { run, already });
    }
    if !is_outcome(job.phase) {
        mark_cancelled(cluster, &mut job).await?;
    }
    let deleted = delete::uninstall(cluster, namespace, job_id, options).await?;
    Ok(Outcome::Removed { deleted })
}

/// Sets `spec.status: CancelledRunFinally` on a PipelineRun still running. `Some(already)` when
/// the run takes care of the job (`already`: it was being cancelled or stopped before); `None`
/// when the run is gone or done, so nothing will run finally for the job any more.
async fn cancel_pipeline_run(
    cluster: &Cluster,
    run: &PipelineRunRef,
) -> Result<Option<bool>, ClusterError> {
    let api = pipeline_runs(cluster, &run.namespace);
    let action = format!("read PipelineRun {run}");
    let found = cluster
        .with_retry(&action, || api.get_opt(&run.name))
        .await
        .map_err(|e| ClusterError::api(action.clone(), e))?;
    let Some(found) = found else {
        tracing::warn!(pipeline_run = %run, "the job's PipelineRun is gone; cancelling the job here");
        return Ok(None);
    };
    match run_state(&serde_json::to_value(&found).unwrap_or_default()) {
        RunState::Done => {
            tracing::warn!(pipeline_run = %run, "the job's PipelineRun has finished; cancelling the job here");
            Ok(None)
        }
        RunState::Stopping(status) => {
            tracing::info!(pipeline_run = %run, %status, "the PipelineRun is being cancelled already");
            Ok(Some(true))
        }
        RunState::Running => {
            let patch = Patch::Merge(json!({"spec": {"status": CANCELLED_RUN_FINALLY}}));
            let params = PatchParams::default();
            let action = format!("cancel PipelineRun {run}");
            cluster
                .with_retry(&action, || api.patch(&run.name, &params, &patch))
                .await
                .map_err(|e| ClusterError::api(action.clone(), e))?;
            Ok(Some(false))
        }
    }
}

async fn mark_cancelled(cluster: &Cluster, job: &mut JobRecord) -> Result<(), ClusterError> {
    job.phase = Phase::Cancelled;
    job.last_error = Some("cancelled by `modelops-executor cancel`".to_string());
    record::write(cluster, job).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(yaml: &str) -> RunState {
        run_state(&serde_norway::from_str(yaml).unwrap())
    }

    #[test]
    fn a_pipeline_run_is_cancelled_only_while_it_runs() {
        assert_eq!(run("spec: {}\n"), RunState::Running);
        assert_eq!(
            run("spec: {status: PipelineRunPending}\n"),
            RunState::Running
        );
        assert_eq!(
            run(
                "spec: {}\nstatus: {conditions: [{type: Succeeded, status: Unknown, reason: Running}]}\n"
            ),
            RunState::Running
        );
        assert_eq!(
            run(
                "spec: {status: CancelledRunFinally}\nstatus: {conditions: [{type: Succeeded, status: Unknown}]}\n"
            ),
            RunState::Stopping("CancelledRunFinally".into())
        );
        assert_eq!(
            run("spec: {status: StoppedRunFinally}\n"),
            RunState::Stopping("StoppedRunFinally".into())
        );
        for done in ["True", "False"] {
            assert_eq!(
                run(&format!(
                    "spec: {{status: CancelledRunFinally}}\nstatus: {{conditions: [{{type: Succeeded, status: \"{done}\"}}]}}\n"
                )),
                RunState::Done
            );
        }
    }

    #[test]
    fn a_cancel_keeps_the_outcome_of_a_job_that_ended() {
        for phase in [Phase::Succeeded, Phase::Failed, Phase::Cancelled] {
            assert!(is_outcome(phase), "{phase}");
        }
        for phase in [
            Phase::Installing,
            Phase::Installed,
            Phase::Running,
            Phase::Uninstalling,
            Phase::Uninstalled,
        ] {
            assert!(!is_outcome(phase), "{phase}");
        }
    }
}
