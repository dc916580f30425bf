use crate::cli::CancelArgs;
use crate::cluster::Cluster;
use crate::cluster::cancel::{self, Outcome};
use crate::cluster::delete::DeleteOptions;
use crate::settings::Settings;
use crate::{Error, ExitStatus};

pub async fn exec(args: CancelArgs, settings: &Settings) -> Result<ExitStatus, Error> {
    let outcome = run(&args, settings).await;
    super::Results::new("cancel", args.run.results_dir.as_deref()).with_error(outcome)
}

async fn run(args: &CancelArgs, settings: &Settings) -> Result<ExitStatus, Error> {
    let cluster = Cluster::connect(settings.api_retry_budget).await?;
    let options = DeleteOptions {
        force: false,
        deadline: args.run.timeout,
        concurrency: args.concurrency,
        cascade: args.cascade,
    };
    let (job_id, namespace) = (&args.job.job_id, &args.job.namespace);
    match cancel::cancel(&cluster, namespace, job_id, &options).await? {
        Outcome::Uninstalled => {
            tracing::info!(%job_id, %namespace, "the job was removed already; nothing to cancel")
        }
        Outcome::PipelineRunCancelled {
            run,
            already: false,
        } => {
            tracing::info!(%job_id, pipeline_run = %run, "asked Tekton to cancel the PipelineRun (CancelledRunFinally); its finally task removes the job")
        }
        Outcome::PipelineRunCancelled { run, already: true } => {
            tracing::info!(%job_id, pipeline_run = %run, "the PipelineRun is being cancelled already; its finally task removes the job")
        }
        Outcome::Removed { deleted } => {
            tracing::info!(%job_id, %namespace, deleted, "the job is cancelled and every object of it is gone")
        }
    }
    Ok(ExitStatus::Success)
}
