use super::inputs;
use crate::cli::RenderArgs;
use crate::manifest::{self, Object};
use crate::{Error, ExitStatus};
use std::collections::BTreeMap;
use std::path::Path;

pub async fn exec(args: RenderArgs) -> Result<ExitStatus, Error> {
    let prepared = inputs::prepare(&args.input, None).await?;
    match &args.output_dir {
        None => print!("{}", manifest::to_yaml_stream(&prepared.objects)),
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
fn write_per_template(dir: &Path, objects: &[Object]) -> Result<(), Error> {
    let mut by_template: BTreeMap<&str, Vec<Object>> = BTreeMap::new();
    for object in objects {
        by_template
            .entry(object.template.as_str())
            .or_default()
            .push(object.clone());
    }
    for (template, objects) in by_template {
        let path = dir.join(template);
        let write = || -> std::io::Result<()> {
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(&path, manifest::to_yaml_stream(&objects))
        };
        write().map_err(|source| Error::Output {
            path: path.display().to_string(),
            source,
        })?;
        tracing::info!(file = %path.display(), objects = objects.len(), "wrote");
    }
    Ok(())
}
