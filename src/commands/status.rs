use crate::cli::{JobsArgs, OutputFormat, StatusArgs};
use crate::cluster::{Cluster, record, status};
use crate::settings::Settings;
use crate::{Error, ExitStatus};
use serde::Serialize;

pub async fn exec(args: StatusArgs, settings: &Settings) -> Result<ExitStatus, Error> {
    let cluster = Cluster::connect(settings.api_retry_budget).await?;
    let job = status::status(&cluster, &args.job.namespace, &args.job.job_id).await?;
    match args.output {
        OutputFormat::Table => {
            let r = &job.record;
            println!(
                "JOB        {}\nNAMESPACE  {}\nPIPELINE   {} ({})\nPHASE      {}\nTASK       {}\nDIGEST     {}\nUPDATED    {}",
                r.job_id,
                r.namespace,
                r.pipeline,
                r.mode,
                r.phase,
                r.task,
                r.values_digest,
                r.updated_at
            );
            if let Some(error) = &r.last_error {
                println!("ERROR      {error}");
            }
            for endpoint in &r.endpoints {
                println!("ENDPOINT   {endpoint}");
            }
            if !job.objects.is_empty() {
                let rows: Vec<[String; 3]> = job
                    .objects
                    .iter()
                    .map(|o| [o.object.clone(), o.state.clone(), o.detail.clone()])
                    .collect();
                println!();
                print_table(["OBJECT", "STATE", "DETAIL"], &rows);
            }
        }
        format => print_structured(&job, format),
    }
    Ok(ExitStatus::Success)
}

pub async fn exec_jobs(args: JobsArgs, settings: &Settings) -> Result<ExitStatus, Error> {
    let cluster = Cluster::connect(settings.api_retry_budget).await?;
    let namespace = match (&args.namespace, args.all_namespaces) {
        (_, true) => None,
        (Some(namespace), false) => Some(namespace.clone()),
        (None, false) => Some(cluster.client.default_namespace().to_string()),
    };
    if args.prune {
        let removed =
            record::prune(&cluster, namespace.as_deref(), &args.retention.retention()).await?;
        tracing::info!(removed, "finished job records pruned");
    }
    let records = record::list(&cluster, namespace.as_deref()).await?;
    match args.output {
        OutputFormat::Table => {
            let rows: Vec<[String; 3]> = records
                .iter()
                .map(|r| {
                    [
                        format!("{}/{}", r.namespace, r.job_id),
                        format!("{} ({})", r.phase, r.task),
                        format!("{} {}", r.pipeline, r.updated_at),
                    ]
                })
                .collect();
            print_table(["JOB", "PHASE (TASK)", "PIPELINE UPDATED"], &rows);
        }
        format => print_structured(&records, format),
    }
    Ok(ExitStatus::Success)
}

fn print_structured(value: &impl Serialize, format: OutputFormat) {
    let value = serde_json::to_value(value).unwrap_or_default();
    match format {
        OutputFormat::Json => println!(
            "{}",
            serde_json::to_string_pretty(&value).unwrap_or_default()
        ),
        _ => print!("{}", crate::yaml::to_string(&value)),
    }
}

fn print_table<const N: usize>(header: [&str; N], rows: &[[String; N]]) {
    let mut widths = header.map(str::len);
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(cell.len());
        }
    }
    let line = |cells: Vec<&str>| {
        cells
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c:<width$}", width = widths[i]))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_string()
    };
    println!("{}", line(header.to_vec()));
    for row in rows {
        println!("{}", line(row.iter().map(String::as_str).collect()));
    }
}
