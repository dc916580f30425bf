//! `diff`: install's inputs, rendered, compared with the cluster; nothing is written.

use crate::cli::DiffArgs;
use crate::cluster::Cluster;
use crate::cluster::diff::{self, Change};
use crate::job::install;
use crate::settings::Settings;
use crate::{Error, ExitStatus};
use std::fmt::Write as _;

pub async fn exec(args: DiffArgs, settings: &Settings) -> Result<ExitStatus, Error> {
    let globals_source = install::globals_source(&args.install)?;
    let cluster = Cluster::connect(settings.api_retry_budget).await?;
    // As install would: the referenced Secret checked, or the job-owned one compared (masked).
    let prepared = install::prepare(&cluster, &args.install, settings, globals_source).await?;
    let values = &prepared.preprocessed;
    let diffs = diff::diff(
        &cluster,
        &values.namespace,
        &values.job_id,
        &prepared.objects,
        args.install.concurrency,
    )
    .await?;
    let mut out = String::new();
    let mut counts = [0usize; 5];
    for object in &diffs {
        let (index, body) = match &object.change {
            Change::Created(yaml) => (0, prefixed(yaml, "+ ")),
            Change::Changed(unified) => (1, unified.clone()),
            Change::Replaced(unified) => (2, unified.clone()),
            Change::Pruned => (3, String::new()),
            Change::Unchanged => (4, String::new()),
        };
        counts[index] += 1;
        let _ = writeln!(out, "{}: {}", object.object, object.change.word());
        out.push_str(&body);
    }
    let _ = writeln!(
        out,
        "job {} in {}: {} created, {} changed, {} replaced, {} pruned, {} unchanged",
        values.job_id, values.namespace, counts[0], counts[1], counts[2], counts[3], counts[4]
    );
    use std::io::Write as _;
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(out.as_bytes())
        .and_then(|()| stdout.flush())
        .map_err(|source| Error::Output {
            path: "standard output".into(),
            source,
        })?;
    let changed = diffs.iter().any(|d| d.change.is_change());
    Ok(if args.exit_code && changed {
        // Like `git diff --exit-code`.
        ExitStatus::ScoringFailed
    } else {
        ExitStatus::Success
    })
}

fn prefixed(text: &str, prefix: &str) -> String {
    text.lines()
        .map(|line| format!("{prefix}{line}\n"))
        .collect()
}
