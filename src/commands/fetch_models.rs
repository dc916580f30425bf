//! `fetch-models` (see `crate::artifacts::fetch`).

use crate::artifacts::fetch::{self, Options, Outcome};
use crate::cli::FetchModelsArgs;
use crate::{Error, ExitStatus};
use std::time::Duration;

pub async fn exec(args: FetchModelsArgs) -> Result<ExitStatus, Error> {
    let models = fetch::read_model_list(&args.models)?;
    let options = Options {
        model_dir: args.model_dir.clone(),
        concurrency: args.concurrency,
        attempts: args.attempts,
        backoff: args.backoff,
        max_bytes: args.max_model_bytes,
        read_timeout: args.read_timeout,
        connect_timeout: Duration::from_secs(20),
        progress_every: args.progress_every,
        credentials_dir: args.credentials_dir.clone(),
        // The CPUs this process may use (affinity and cgroup CPU limit).
        overlap_writes: std::thread::available_parallelism().is_ok_and(|n| n.get() >= 2),
    };
    let outcomes = fetch::fetch_models(&models, &options).await?;
    let skipped = outcomes.iter().filter(|o| **o == Outcome::Skipped).count();
    tracing::info!(
        models = outcomes.len(),
        downloaded = outcomes.len() - skipped,
        skipped,
        dir = %args.model_dir.display(),
        "models ready"
    );
    Ok(ExitStatus::Success)
}
