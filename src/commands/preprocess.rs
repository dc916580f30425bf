use crate::cli::InputArgs;
use crate::job;
use crate::settings::Settings;
use crate::{Error, ExitStatus};

pub async fn exec(args: InputArgs, settings: &Settings) -> Result<ExitStatus, Error> {
    let preprocessed = job::preprocess(&args, &settings.input_limits, Default::default()).await?;
    print!("{}", preprocessed.yaml);
    tracing::info!(job_id = %preprocessed.job_id, values_digest = %preprocessed.digest, "merged values printed");
    Ok(ExitStatus::Success)
}
