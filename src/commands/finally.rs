use crate::cli::FinallyArgs;
use crate::cluster::Cluster;
use crate::cluster::delete::{self, Cascade, DeleteOptions};
use crate::settings::Settings;
use crate::tekton;
use crate::{Error, ExitStatus};

pub async fn exec(args: FinallyArgs, settings: &Settings) -> Result<ExitStatus, Error> {
    let outcome = run(&args, settings).await;
    super::Results::new("finally", args.run.results_dir.as_deref()).with_error(outcome)
}

async fn run(args: &FinallyArgs, settings: &Settings) -> Result<ExitStatus, Error> {
    let results = super::Results::new("finally", args.run.results_dir.as_deref());
    let cluster = Cluster::connect(settings.api_retry_budget).await?;
    let options = DeleteOptions {
        force: args.force,
        deadline: args.run.timeout,
        concurrency: args.concurrency,
        cascade: args.cascade,
    };
    let deleted =
        delete::uninstall(&cluster, &args.job.namespace, &args.job.job_id, &options).await?;
    crate::cluster::record::prune_quietly(
        &cluster,
        &args.job.namespace,
        &args.retention.retention(),
    )
    .await;
    results.write(tekton::JOB_ID, &args.job.job_id)?;
    results.write(tekton::PHASE, "Uninstalled")?;
    results.write(tekton::ERROR, "")?;
    match args.cascade {
        Cascade::Background => {
            tracing::info!(job_id = %args.job.job_id, deleted, "every object of the job is gone; the garbage collector removes their pods")
        }
        Cascade::Foreground => {
            tracing::info!(job_id = %args.job.job_id, deleted, "every object of the job and their pods are gone")
        }
    }
    Ok(ExitStatus::Success)
}
