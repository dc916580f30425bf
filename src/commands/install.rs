use super::inputs;
use crate::cli::InstallArgs;
use crate::cluster::apply::{self, InstallOptions, JobInfo};
use crate::cluster::{self, Cluster, wait};
use crate::preprocess::PreprocessError;
use crate::tekton;
use crate::{Error, ExitStatus};

pub async fn exec(args: InstallArgs) -> Result<ExitStatus, Error> {
    let outcome = run(&args).await;
    super::with_error_result(args.run.results_dir.as_deref(), outcome)
}

async fn run(args: &InstallArgs) -> Result<ExitStatus, Error> {
    let results = args.run.results_dir.as_deref();
    let cluster = Cluster::connect().await?;
    let registry = match &args.input.channels {
        Some(_) => None,
        None => {
            let (registry, diagnostics) =
                cluster::channel_registry(&cluster, &args.channels_namespace).await?;
            if !diagnostics.is_empty() {
                return Err(
                    PreprocessError::Invalid(diagnostics.into_result(()).unwrap_err()).into(),
                );
            }
            Some(registry)
        }
    };
    // Everything is validated and rendered before the first write to the cluster.
    let prepared = inputs::prepare(&args.input, registry).await?;
    let values = &prepared.preprocessed;
    super::write_result(results, tekton::JOB_ID, &values.job_id)?;
    super::write_result(results, tekton::VALUES_DIGEST, &values.digest)?;
    let job = JobInfo {
        job_id: values.job_id.clone(),
        namespace: values.namespace.clone(),
        pipeline: values.pipeline.clone(),
        mode: values.values["global"]["mode"]
            .as_str()
            .unwrap_or("batch")
            .to_string(),
        values_digest: values.digest.clone(),
    };
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
    super::write_result(results, tekton::PHASE, &record.phase.to_string())?;
    super::write_result(results, tekton::ENDPOINTS, &record.endpoints.join("\n"))?;
    super::write_result(results, tekton::ERROR, "")?;
    println!("{}", job.job_id);
    Ok(ExitStatus::Success)
}
