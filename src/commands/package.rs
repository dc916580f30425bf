use crate::cli::PackageArgs;
use crate::{Error, ExitStatus};

pub fn exec(args: PackageArgs) -> Result<ExitStatus, Error> {
    let packaged = crate::chart::package::package(&args.chart_dir, &args.destination)?;
    println!("{}  {}", packaged.sha256, packaged.path.display());
    tracing::info!(bytes = packaged.bytes, "packaged chart");
    Ok(ExitStatus::Success)
}
