use crate::cli::ValidateArgs;
use crate::cluster::Cluster;
use crate::cluster::proxy::{self, ServiceProxy};
use crate::settings::Settings;
use crate::validate::{self, Options, Service, ValidateError};
use crate::{Error, ExitStatus, tekton};

pub async fn exec(args: ValidateArgs, settings: &Settings) -> Result<ExitStatus, Error> {
    let outcome = run(&args, settings).await;
    super::Results::new("validate", args.results_dir.as_deref()).with_error(outcome)
}

async fn run(args: &ValidateArgs, settings: &Settings) -> Result<ExitStatus, Error> {
    // The requests file is input: read and checked before anything is asked of the cluster.
    let file = match &args.requests {
        None => None,
        Some(path) => {
            let shown = path.display().to_string();
            // A regular file within the per-file limit: a FIFO would block, a device never end.
            let bytes =
                crate::archive::read_regular_file(path, settings.input_limits.max_file_bytes)
                    .map_err(|e| ValidateError::RequestsFor {
                        file: shown.clone(),
                        reason: e.to_string(),
                    })?;
            let text = String::from_utf8(bytes).map_err(|_| ValidateError::RequestsFor {
                file: shown.clone(),
                reason: "is not UTF-8 text".to_string(),
            })?;
            let entries =
                validate::samples::read_file(&shown, &text).map_err(ValidateError::Requests)?;
            Some((shown, entries))
        }
    };
    let cluster = Cluster::connect(settings.api_retry_budget).await?;
    let (namespace, job_id) = (&args.job.namespace, &args.job.job_id);
    let mut services = Vec::new();
    for found in proxy::scoring_services(&cluster, namespace, job_id).await? {
        let models =
            validate::models_from_list(&format!("configmap/{}", found.config_map), &found.models)
                .map_err(|source| ValidateError::ModelList {
                service: found.name.clone(),
                config_map: found.config_map.clone(),
                source,
            })?;
        services.push(Service {
            name: found.name,
            port: found.port,
            models,
        });
    }
    if services.is_empty() {
        return Err(ValidateError::NoServices(job_id.clone()).into());
    }
    let services = validate::plan(
        services,
        file.as_ref().map(|(f, e)| (f.as_str(), e.clone())),
        args.mode,
    )?;
    let models: usize = services.iter().map(|s| s.models.len()).sum();
    let samples: usize = services
        .iter()
        .flat_map(|s| &s.models)
        .map(|m| m.samples.len())
        .sum();
    tracing::info!(%job_id, services = services.len(), models, samples, "validating");

    let options = Options {
        timeout: args.timeout,
        interval: args.interval,
        concurrency: args.concurrency,
    };
    let transport = ServiceProxy::new(&cluster, namespace, args.request_timeout);
    let report = validate::validate(&transport, &services, &options).await?;
    for verdict in &report.verdicts {
        let model = format!("{}/{}@{}", verdict.service, verdict.model, verdict.version);
        match &verdict.outcome {
            Ok(queried) => println!("{model}: blessed ({queried} sample requests answered)"),
            Err(reason) => println!("{model}: not blessed: {reason}"),
        }
    }
    let result = report.result();
    let results = super::Results::new("validate", args.results_dir.as_deref());
    results.write(tekton::VALIDATION, &result)?;
    results.write(tekton::ERROR, "")?;
    tracing::info!(
        requests = report.requests,
        blessed = report.blessed(),
        "validation finished"
    );
    if report.blessed() {
        Ok(ExitStatus::Success)
    } else {
        tracing::error!("{result}");
        Ok(ExitStatus::ScoringFailed)
    }
}
