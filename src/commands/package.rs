use crate::cli::PackageArgs;
use crate::settings::Settings;
use crate::{Error, ExitStatus};

pub fn exec(args: PackageArgs, settings: &Settings) -> Result<ExitStatus, Error> {
    let packaged =
        crate::chart::package::package(&args.chart_dir, &args.destination, &settings.input_limits)?;
    println!("{}  {}", packaged.sha256, packaged.path.display());
    tracing::info!(bytes = packaged.bytes, "packaged chart");
    Ok(ExitStatus::Success)
}
