use crate::cli::InstallArgs;
use crate::cluster::apply::{self, InstallOptions};
use crate::cluster::{self, Cluster, wait};
use crate::job;
use crate::settings::Settings;
use crate::tekton;
use crate::{Error, ExitStatus};

pub async fn exec(args: InstallArgs, settings: &Settings) -> Result<ExitStatus, Error> {
    let outcome = run(&args, settings).await;
    super::Results::new("install", args.run.results_dir.as_deref()).with_error(outcome)
}

async fn run(args: &InstallArgs, settings: &Settings) -> Result<ExitStatus, Error> {
    let results = super::Results::new("install", args.run.results_dir.as_deref());
    let globals_source = job::install::globals_source(args)?;
    let cluster = Cluster::connect(settings.api_retry_budget).await?;
    let prepared = job::install::prepare(&cluster, args, settings, globals_source).await?;
    let values = &prepared.preprocessed;
    results.write(tekton::JOB_ID, &values.job_id)?;
    results.write(tekton::VALUES_DIGEST, &values.digest)?;
    let job = job::install::job_info(values, &cluster, &args.pipeline_run)?;
    let options = InstallOptions {
        concurrency: args.concurrency,
        dry_run: args.dry_run.is_some(),
        create_namespace: args.create_namespace,
        deadline: args.run.timeout,
        policy: args.readiness.policy(),
    };
    tracing::info!(job_id = %job.job_id, namespace = %job.namespace, objects = prepared.objects.len(), dry_run = options.dry_run, "installing");
    let record = apply::install(
        &cluster,
        &job,
        &prepared.objects,
        &options,
        wait::shutdown_signal(),
    )
    .await?;
    if !options.dry_run {
        cluster::record::prune_quietly(&cluster, &job.namespace, &args.retention.retention()).await;
    }
    results.write(tekton::PHASE, &record.phase.to_string())?;
    results.write(tekton::ENDPOINTS, &record.endpoints.join("\n"))?;
    results.write(tekton::ERROR, "")?;
    println!("{}", job.job_id);
    Ok(ExitStatus::Success)
}
