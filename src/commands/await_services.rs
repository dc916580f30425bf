//! `await-services` (see `crate::await_services`).

use crate::await_services;
use crate::cli::AwaitServicesArgs;
use crate::{Error, ExitStatus};

pub async fn exec(args: AwaitServicesArgs) -> Result<ExitStatus, Error> {
    let urls = await_services::health_urls(&args.services, &args.ready_path)?;
    await_services::await_ready(&urls, args.timeout, args.interval).await?;
    tracing::info!(services = urls.len(), "every scoring service is ready");
    Ok(ExitStatus::Success)
}
