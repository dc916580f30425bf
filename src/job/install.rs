//! Install's inputs: the flags' and files' inputs completed from the cluster (the channel
//! registry, the platform globals ConfigMap, the artifact credentials Secret), then prepared as
//! [`inputs::prepare`] does. What install applies and `diff` compares are made here, once.

use super::inputs::{self, FromCluster, Prepared};
use crate::Error;
use crate::artifacts::check::CREDENTIALS_SECRET_FIELD;
use crate::artifacts::credentials;
use crate::cli::InstallArgs;
use crate::cluster::apply::JobInfo;
use crate::cluster::{self, Cluster};
use crate::diagnostics::{Diagnostics, Origin};
use crate::manifest::{self, Owner};
use crate::preprocess::{PreprocessError, Preprocessed};
use std::collections::BTreeMap;

/// What the job record says of the job: the prepared values' identity, and the PipelineRun
/// running it (`--pipeline-run`), which `cancel` patches.
pub fn job_info(
    values: &Preprocessed,
    cluster: &Cluster,
    pipeline_run_flag: &str,
) -> Result<JobInfo, Error> {
    Ok(JobInfo {
        job_id: values.job_id.clone(),
        namespace: values.namespace.clone(),
        pipeline: values.pipeline.clone(),
        mode: values.mode.to_string(),
        values_digest: values.digest.clone(),
        pipeline_run: pipeline_run(cluster, pipeline_run_flag)?,
    })
}

/// `--pipeline-run`: `NAME` is in the executor's namespace (where Tekton runs the install pod).
fn pipeline_run(
    cluster: &Cluster,
    flag: &str,
) -> Result<Option<cluster::record::PipelineRunRef>, Error> {
    if flag.is_empty() {
        return Ok(None);
    }
    let text = if flag.contains('/') {
        flag.to_string()
    } else {
        format!("{}/{flag}", cluster.client.default_namespace())
    };
    text.parse()
        .map(Some)
        .map_err(|reason| Error::Usage(format!("--pipeline-run: {reason}")))
}

/// Reads the channel registry and the platform globals from the cluster (as the flags say),
/// validates and renders everything, then checks (or makes) the artifact credentials Secret:
/// what install applies and `diff` compares.
pub async fn prepare(
    cluster: &Cluster,
    args: &InstallArgs,
    settings: &crate::settings::Settings,
    globals_source: GlobalsSource,
) -> Result<Prepared, Error> {
    // The two reads are independent: one round trip.
    let registry = async {
        if args.input.channels.is_some() {
            return Ok(None);
        }
        let (registry, diagnostics) =
            cluster::channel_registry(cluster, &args.channels_namespace).await?;
        if !diagnostics.is_empty() {
            return Err(PreprocessError::Invalid(diagnostics.into_result(()).unwrap_err()).into());
        }
        Ok::<_, Error>(Some(registry))
    };
    let globals = async {
        let namespace = match globals_source {
            GlobalsSource::Off => return Ok(None),
            GlobalsSource::Namespace(namespace) => namespace,
            // The client's default namespace is the pod's (service account) namespace in a
            // cluster, else the kubeconfig context's, else `default`.
            GlobalsSource::ExecutorNamespace => cluster.client.default_namespace().to_string(),
        };
        Ok::<_, Error>(cluster::globals_config_map(cluster, &namespace).await?)
    };
    let (registry, globals) = tokio::try_join!(registry, globals)?;
    // Everything is validated and rendered before the first write to the cluster.
    let mut prepared =
        inputs::prepare(&args.input, settings, FromCluster { registry, globals }).await?;
    artifact_credentials(cluster, args.input.artifact_credentials, &mut prepared).await?;
    Ok(prepared)
}

/// `--artifact-credentials` (docs/artifact-stores.md, "Credentials"), before anything is applied:
/// `reference` checks that the Secret the values name exists and holds what the job's stores
/// need; `from-env` adds the job-owned Secret made from the executor's environment to the
/// objects (finally deletes it with them). Jobs whose models need no credentials skip both.
async fn artifact_credentials(
    cluster: &Cluster,
    mode: credentials::Mode,
    prepared: &mut Prepared,
) -> Result<(), Error> {
    let needs = &prepared.artifacts;
    let Some(name) = needs.secret.clone() else {
        return Ok(());
    };
    if needs.stores.is_empty() {
        return Ok(());
    }
    let values = &prepared.preprocessed;
    let namespace = &values.namespace;
    let origin = Origin::new("merged values", 0);
    let mut problems = Diagnostics::default();
    match mode {
        credentials::Mode::Reference => {
            let missing = match cluster::secret_keys(cluster, namespace, &name).await? {
                None => vec![format!(
                    "Secret {namespace}/{name} does not exist; the models on {} read their credentials from it: create it (docs/artifact-stores.md) or let install create one with --artifact-credentials from-env",
                    store_names(needs)
                )],
                Some(keys) => credentials::missing_in_secret(&needs.stores, &keys)
                    .into_iter()
                    .map(|need| format!("Secret {namespace}/{name}: {need}"))
                    .collect(),
            };
            for message in missing {
                problems.push(&origin, CREDENTIALS_SECRET_FIELD, message);
            }
            if problems.is_empty() {
                tracing::info!(secret = %name, %namespace, "artifact credentials Secret found");
            }
        }
        credentials::Mode::FromEnv => {
            let environment: BTreeMap<String, String> = std::env::vars_os()
                .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
                .collect();
            let read = |path: &str| {
                crate::archive::read_regular_file(
                    std::path::Path::new(path),
                    credentials::MAX_CREDENTIALS_FILE_BYTES,
                )
                .map_err(|err| err.to_string())
            };
            match credentials::from_environment(&needs.stores, &environment, read) {
                Ok(data) => {
                    let owner = Owner {
                        job_id: values.job_id.clone(),
                        pipeline: values.pipeline.clone(),
                        namespace: namespace.clone(),
                    };
                    let secret = manifest::own_object(
                        "(install --artifact-credentials from-env)",
                        credentials::secret_manifest(&name, &data),
                        &owner,
                    )
                    .map_err(Error::Usage)?;
                    tracing::info!(secret = %name, %namespace, keys = ?data.keys().collect::<Vec<_>>(), "the job's artifact credentials Secret is made from the executor's environment");
                    manifest::insert_in_install_order(&mut prepared.objects, secret);
                }
                Err(missing) => {
                    let origin = Origin::new("the executor's environment", 0);
                    for problem in missing {
                        problems.push(&origin, "", problem.to_string());
                    }
                }
            }
        }
    }
    problems.into_result(()).map_err(Error::Artifacts)
}

/// "S3", "S3 and Google Cloud Storage", "S3, Google Cloud Storage and Azure Blob Storage".
fn store_names(needs: &crate::artifacts::check::Needs) -> String {
    let names: Vec<&str> = needs.stores.keys().map(|store| store.name()).collect();
    match names.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} and {last}", rest.join(", ")),
        _ => names.join(""),
    }
}

/// Where install reads the `modelops-globals` ConfigMap from.
pub enum GlobalsSource {
    /// `--globals-configmap=false`.
    Off,
    /// `--globals-namespace`.
    Namespace(String),
    /// The executor's own namespace, known once connected.
    ExecutorNamespace,
}

/// Checked before connecting, so a bad flag is a usage error (exit 2) with or without a cluster.
pub fn globals_source(args: &InstallArgs) -> Result<GlobalsSource, Error> {
    if !args.globals_configmap {
        tracing::info!(
            "not reading ConfigMap {}: --globals-configmap=false",
            crate::preprocess::globals::CONFIG_MAP
        );
        return Ok(GlobalsSource::Off);
    }
    match &args.globals_namespace {
        None => Ok(GlobalsSource::ExecutorNamespace),
        Some(namespace) if crate::names::is_dns1123_label(namespace) => {
            Ok(GlobalsSource::Namespace(namespace.clone()))
        }
        Some(namespace) => Err(Error::Usage(format!(
            "--globals-namespace `{namespace}` is not a DNS-1123 label"
        ))),
    }
}
