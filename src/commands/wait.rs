use crate::cli::WaitArgs;
use crate::cluster::Cluster;
use crate::cluster::record::{self, Task};
use crate::cluster::wait::{self, Until, WaitOptions};
use crate::k8s::ObjectRef;
use crate::settings::Settings;
use crate::tekton;
use crate::{Error, ExitStatus};

pub async fn exec(args: WaitArgs, settings: &Settings) -> Result<ExitStatus, Error> {
    let outcome = run(&args, settings).await;
    super::Results::new("wait", args.run.results_dir.as_deref()).with_error(outcome)
}

async fn run(args: &WaitArgs, settings: &Settings) -> Result<ExitStatus, Error> {
    let results = super::Results::new("wait", args.run.results_dir.as_deref());
    let cluster = Cluster::connect(settings.api_retry_budget).await?;
    let (namespace, job_id) = (&args.job.namespace, &args.job.job_id);
    let mut record = record::read_required(&cluster, namespace, job_id).await?;
    record.begin(Task::Wait);
    record::write(&cluster, &mut record).await?;
    results.write(tekton::JOB_ID, job_id)?;
    results.write(tekton::ENDPOINTS, &record.endpoints.join("\n"))?;

    // Namespaced objects of awaited kinds are watched; the rest only need to exist.
    let targets: Vec<ObjectRef> = record
        .inventory
        .iter()
        .map(|entry| &entry.object)
        .filter(|o| o.namespace.is_some() && crate::k8s::kinds::is_awaited(&o.kind))
        .cloned()
        .collect();
    let until = if record.mode == "streaming" {
        Until::Forever
    } else {
        Until::AllReady
    };
    tracing::info!(%job_id, objects = targets.len(), mode = %record.mode, "watching the job");
    let options = WaitOptions {
        namespace: namespace.clone(),
        job_id: job_id.clone(),
        deadline: args.run.timeout,
        policy: args.readiness.policy(),
        until,
        with_flows: true,
    };
    let outcome = wait::wait_for(&cluster, &targets, &options, wait::shutdown_signal()).await;

    match &outcome {
        Ok(()) => record.succeeded(),
        Err(err) => record.ended_by(err),
    }
    // Recording the outcome is what the next task relies on; a failure here is reported but must
    // not hide the scoring outcome.
    if let Err(err) = record::write(&cluster, &mut record).await {
        tracing::error!(error = %err, "could not record the outcome in the job record");
    }
    results.write(tekton::PHASE, &record.phase.to_string())?;
    outcome?;
    results.write(tekton::ERROR, "")?;
    tracing::info!(%job_id, "scoring succeeded");
    Ok(ExitStatus::Success)
}
