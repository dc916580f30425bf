//! `build-plan`: the sub-charts' container builds as a Tekton Pipeline (see `crate::buildplan`).

use crate::buildplan;
use crate::chart::Chart;
use crate::cli::BuildPlanArgs;
use crate::settings::Settings;
use crate::{Error, ExitStatus};
use std::io::Write;

pub fn exec(args: BuildPlanArgs, settings: &Settings) -> Result<ExitStatus, Error> {
    let chart_path = crate::job::resolve_chart(args.chart.as_deref())?;
    let chart = Chart::load(&chart_path, &settings.input_limits)?;
    let plan = buildplan::plan(&chart)?;
    let yaml = plan.to_yaml();
    match &args.output {
        Some(path) => std::fs::write(path, &yaml).map_err(|source| Error::Output {
            path: path.display().to_string(),
            source,
        })?,
        None => std::io::stdout()
            .lock()
            .write_all(yaml.as_bytes())
            .map_err(|source| Error::Output {
                path: "stdout".into(),
                source,
            })?,
    }
    tracing::info!(
        chart = %chart_path.display(),
        steps = plan.steps.len(),
        order = %plan.steps.iter().map(|s| s.name.as_str()).collect::<Vec<_>>().join(","),
        "build plan"
    );
    Ok(ExitStatus::Success)
}
