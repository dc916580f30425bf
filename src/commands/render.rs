use crate::cli::RenderArgs;
use crate::job;
use crate::manifest::{self, Built};
use crate::settings::Settings;
use crate::{Error, ExitStatus};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

pub async fn exec(args: RenderArgs, settings: &Settings) -> Result<ExitStatus, Error> {
    // Each object is kept as its YAML only: the parsed trees of a large job would double the
    // memory `render` needs.
    let prepared = job::prepare_keeping(&args.input, settings, Default::default(), |object| {
        manifest::to_yaml(&object)
    })
    .await?;
    match &args.output_dir {
        None => {
            let mut stdout = std::io::BufWriter::new(std::io::stdout().lock());
            let written: std::io::Result<()> = prepared
                .objects
                .iter()
                .try_for_each(|built| stdout.write_all(built.kept.as_bytes()))
                .and_then(|()| stdout.flush());
            written.map_err(|source| Error::Output {
                path: "standard output".into(),
                source,
            })?;
        }
        Some(dir) => write_per_template(dir, &prepared.objects)?,
    }
    tracing::info!(
        objects = prepared.objects.len(),
        job_id = %prepared.preprocessed.job_id,
        values_digest = %prepared.preprocessed.digest,
        "rendered"
    );
    Ok(ExitStatus::Success)
}

/// Like `helm template --output-dir`: `<dir>/<chart>/templates/<file>`, one file per template
/// holding its objects (in install order).
fn write_per_template(dir: &Path, objects: &[Built<String>]) -> Result<(), Error> {
    let mut by_template: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for built in objects {
        by_template
            .entry(built.identity.template.as_str())
            .or_default()
            .push(&built.kept);
    }
    for (template, objects) in by_template {
        let path = dir.join(template);
        // Written aside and renamed into place: a failed write (a full disk) leaves no
        // truncated manifest behind.
        let aside = path.with_extension("yaml.partial");
        let write = || -> std::io::Result<()> {
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(&aside, objects.concat())?;
            std::fs::rename(&aside, &path)
        };
        write().map_err(|source| {
            let _ = std::fs::remove_file(&aside);
            Error::Output {
                path: path.display().to_string(),
                source,
            }
        })?;
        tracing::info!(file = %path.display(), objects = objects.len(), "wrote");
    }
    Ok(())
}
