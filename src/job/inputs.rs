//! The offline half of a job, shared by `render`, `preprocess`, `install` and `diff`: inputs →
//! merged values → checked objects in install order. Nothing here touches a cluster.

use crate::archive::{self, Limits};
use crate::chart::Chart;
use crate::cli::InputArgs;
use crate::diagnostics::Diagnostics;
use crate::ir::fetch::HttpOptions;
use crate::ir::fetch::{self, IrSource};
use crate::manifest::{self, Built, Object, Owner};
use crate::preprocess::channels::Registry;
use crate::preprocess::globals::{ConfigMapContent, Layer};
use crate::preprocess::{self, Inputs, PreprocessError, Preprocessed};
use crate::render::{self, Release};
use crate::settings::Settings;
use crate::{Error, values};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Where the chart is looked for when `--chart` is not given.
const CHART_SEARCH: [&str; 2] = [
    "charts/modelops",
    "/usr/share/modelops-executor/charts/modelops",
];

pub struct Prepared<T = Object> {
    pub preprocessed: Preprocessed,
    /// What the models need of the credentials Secret (checked before rendering).
    pub artifacts: crate::artifacts::check::Needs,
    /// In install order.
    pub objects: Vec<T>,
}

/// What install reads from the cluster for the values; `render` and `preprocess` are offline and
/// pass nothing.
#[derive(Debug, Default)]
pub struct FromCluster {
    /// The data channel registry (unless `--channels` is given).
    pub registry: Option<Registry>,
    /// The `modelops-globals` ConfigMap, when there is one and it is read.
    pub globals: Option<ConfigMapContent>,
}

/// Everything up to the merged values. The channel registry comes from `--channels`, else from
/// the cluster's (install), else it is empty. Globals: the cluster's ConfigMap, overridden by
/// `--globals FILE`.
pub async fn preprocess(
    args: &InputArgs,
    limits: &Limits,
    cluster: FromCluster,
) -> Result<Preprocessed, Error> {
    let source = IrSource::parse(&args.ir);
    let http: HttpOptions = args.ir_download.options();
    let files = fetch::fetch_with(&source, args.ir_sha256.as_deref(), limits, &http).await?;
    let ir = crate::ir::parse(&files)?;
    tracing::info!(pipeline = %ir.pipeline.name, flows = ir.flows.len(), models = ir.models.len(), "IR loaded");

    let mut diagnostics = Diagnostics::default();
    let registry = match &args.channels {
        Some(path) => {
            let files = read_channels(path, limits)?;
            Registry::from_files(&files, &mut diagnostics)
        }
        None => cluster.registry.unwrap_or_default(),
    };
    let mut globals = Vec::new();
    // Lowest precedence: the platform's globals and the values may still name another image.
    if let Some(image) = &args.executor_image {
        globals.push(executor_image_layer(image));
    }
    if let Some(content) = &cluster.globals {
        match Layer::config_map(content) {
            Ok(layer) => {
                tracing::info!(source = %layer.origin, keys = ?layer.keys(), "platform globals read");
                globals.push(layer);
            }
            Err(problems) => diagnostics.extend(problems),
        }
    }
    if let Some(path) = &args.globals {
        let text = read_text(path, "globals (--globals)", limits)?;
        match Layer::file(&path.display().to_string(), &text) {
            Ok(layer) => globals.push(layer),
            Err(problems) => diagnostics.extend(problems),
        }
    }
    if !diagnostics.is_empty() {
        return Err(PreprocessError::Invalid(diagnostics.into_result(()).unwrap_err()).into());
    }
    if registry.is_empty() {
        tracing::warn!(
            "no data channel registry given (--channels); every flow's source and sink will fail to resolve"
        );
    }
    let inputs = Inputs {
        job_id: args.job_id.clone(),
        namespace: args.namespace.clone(),
        params: parse_params(&args.params)?,
        globals,
        value_files: args
            .value_files
            .iter()
            .map(|path| read_values_file(path, limits))
            .collect::<Result<_, _>>()?,
        sets: set_flags(args)?,
        artifact_credentials: args.artifact_credentials,
    };
    Ok(preprocess::preprocess(&ir, &registry, &inputs)?)
}

/// Everything up to the rendered, validated, ordered objects. Nothing touches a cluster.
pub async fn prepare(
    args: &InputArgs,
    settings: &Settings,
    cluster: FromCluster,
) -> Result<Prepared, Error> {
    let prepared = prepare_keeping(args, settings, cluster, |object| object).await?;
    Ok(Prepared {
        preprocessed: prepared.preprocessed,
        artifacts: prepared.artifacts,
        objects: prepared.objects.into_iter().map(|b| b.kept).collect(),
    })
}

/// [`prepare`], keeping of each object only what `keep` makes of it: `render` keeps its YAML,
/// not the parsed tree, which halves its memory for large jobs.
pub async fn prepare_keeping<T: Send>(
    args: &InputArgs,
    settings: &Settings,
    cluster: FromCluster,
    keep: impl Fn(Object) -> T + Sync,
) -> Result<Prepared<Built<T>>, Error> {
    let limits = &settings.input_limits;
    let chart_path = resolve_chart(args.chart.as_deref())?;
    // Load the chart first: a broken chart is reported before the IR is even fetched.
    let chart = Chart::load(&chart_path, limits)?;
    let mut preprocessed = preprocess(args, limits, cluster).await?;
    // Before rendering, so nothing is applied for a model no init container could fetch.
    let artifacts =
        crate::artifacts::check::check_values(&preprocessed.values).map_err(Error::Artifacts)?;
    let release = Release {
        name: preprocessed.job_id.clone(),
        namespace: preprocessed.namespace.clone(),
    };
    let owner = Owner {
        job_id: preprocessed.job_id.clone(),
        pipeline: preprocessed.pipeline.clone(),
        namespace: preprocessed.namespace.clone(),
    };
    let labels = crate::k8s::ownership::labels(&owner.job_id, &owner.pipeline);
    // Rendering runs on this thread; parsing, checking and `keep` on the others, as pieces of
    // output arrive.
    let pieces = crate::parallel::pipeline(
        |sink| {
            render::render_pieces(
                &chart,
                &mut preprocessed.values,
                &release,
                settings.max_render_bytes,
                sink,
            )
        },
        |piece| manifest::build_piece(&piece, &owner, &labels, &keep),
    )?;
    let objects = manifest::assemble(pieces)?;
    Ok(Prepared {
        preprocessed,
        artifacts,
        objects,
    })
}

/// `--executor-image` as a globals layer: `images.executor` of the charts.
fn executor_image_layer(image: &crate::names::ImageReference) -> Layer {
    let mut executor =
        serde_json::json!({"registry": image.registry, "repository": image.repository});
    if let Some(tag) = &image.tag {
        executor["tag"] = serde_json::json!(tag);
    }
    if let Some(digest) = &image.digest {
        executor["digest"] = serde_json::json!(digest);
    }
    Layer {
        origin: crate::diagnostics::Origin::new("--executor-image", 0),
        value: serde_json::json!({"images": {"executor": executor}}),
    }
}

pub fn resolve_chart(explicit: Option<&Path>) -> Result<PathBuf, Error> {
    if let Some(path) = explicit {
        return Ok(path.to_path_buf());
    }
    CHART_SEARCH
        .iter()
        .map(PathBuf::from)
        .find(|p| p.join("Chart.yaml").is_file())
        .ok_or_else(|| {
            Error::Usage(format!(
                "no chart given (--chart) and none found at {}",
                CHART_SEARCH.join(" or ")
            ))
        })
}

fn parse_params(raw: &[String]) -> Result<BTreeMap<String, String>, Error> {
    raw.iter()
        .map(|p| match p.split_once('=') {
            Some((name, value)) if crate::ir::is_parameter_name(name) => {
                Ok((name.to_string(), value.to_string()))
            }
            _ => Err(Error::Usage(format!(
                "--param `{p}`: expected NAME=VALUE with a name of letters, digits, '_', '-' or '.'"
            ))),
        })
        .collect()
}

/// The value flags in the order Helm applies them; `--set-file`'s files are read here.
fn set_flags(args: &InputArgs) -> Result<Vec<values::flags::SetFlag>, Error> {
    let files = args
        .set_files
        .iter()
        .map(|expression| values::flags::read_set_file(expression))
        .collect::<Result<_, _>>()?;
    Ok(values::flags::SetFlag::in_helm_order(
        &args.set_jsons,
        &args.sets,
        &args.set_strings,
        files,
    ))
}

/// A YAML input file of at most the per-file limit.
fn read_text(path: &Path, what: &'static str, limits: &Limits) -> Result<String, Error> {
    let bytes = archive::read_regular_file(path, limits.max_file_bytes)
        .map_err(|source| Error::Input { what, source })?;
    String::from_utf8(bytes)
        .map_err(|_| Error::Usage(format!("{what}: {} is not UTF-8 text", path.display())))
}

pub fn read_values_file(path: &Path, limits: &Limits) -> Result<serde_json::Value, Error> {
    Ok(values::parse_values_file(
        &path.display().to_string(),
        &read_text(path, "values file (-f)", limits)?,
    )?)
}

/// `--channels`: a directory of registry YAML files, or one such file.
fn read_channels(path: &Path, limits: &Limits) -> Result<archive::Files, Error> {
    const WHAT: &str = "data channel registry (--channels)";
    if path.is_dir() {
        return archive::read_dir(path, limits)
            .map_err(|source| Error::Input { what: WHAT, source });
    }
    let bytes = archive::read_regular_file(path, limits.max_file_bytes)
        .map_err(|source| Error::Input { what: WHAT, source })?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "channels.yaml".into());
    Ok(archive::Files {
        origin: path.display().to_string(),
        files: vec![archive::File { path: name, bytes }],
    })
}
