//! The command line (README.md). Flags shared by several subcommands keep one spelling, and every
//! flag can also come from a `MODELOPS_*` environment variable (the Tekton tasks use both).

use crate::cluster::delete::Cascade;
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("MODELOPS_GIT_COMMIT"),
    ")"
);

#[derive(Debug, Parser)]
#[command(name = "modelops-executor", version = VERSION, about = "Install, watch and remove ML scoring pipelines on Kubernetes", propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Log format on stderr: readable text for people, JSON lines for machines.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text, env = "MODELOPS_LOG_FORMAT")]
    pub log_format: LogFormat,
    /// More detail (-v debug, -vv trace).
    #[arg(short, long, global = true, action = clap::ArgAction::Count, conflicts_with = "quiet")]
    pub verbose: u8,
    /// Only errors.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// How long one API request is retried on 429, 5xx or a broken connection before the
    /// command fails (exit 3).
    #[arg(long, global = true, value_name = "DURATION", default_value = "30s", value_parser = parse_duration, env = "MODELOPS_API_RETRY_BUDGET")]
    pub api_retry_budget: std::time::Duration,
    /// Most bytes an input may hold in total: an IR, chart or channel directory or archive
    /// (decompressed, nested sub-charts included), an IR download, a packaged chart.
    #[arg(long, global = true, value_name = "SIZE", default_value = "64Mi", value_parser = parse_size, env = "MODELOPS_MAX_INPUT_BYTES")]
    pub max_input_bytes: u64,
    /// Most entries (files and directories) an input directory or archive may hold.
    #[arg(long, global = true, value_name = "COUNT", default_value_t = 10_000, value_parser = clap::value_parser!(u32).range(1..), env = "MODELOPS_MAX_INPUT_FILES")]
    pub max_input_files: u32,
    /// Most bytes of any one input file: inside an input directory or archive, and `--globals`,
    /// `-f` and `--channels FILE`.
    #[arg(long, global = true, value_name = "SIZE", default_value = "16Mi", value_parser = parse_size, env = "MODELOPS_MAX_FILE_BYTES")]
    pub max_file_bytes: u64,
    /// Most bytes one chart template may write: a loop or helper gone wild fails naming the
    /// template instead of exhausting memory. The chart writes about 2.6 KiB per batch flow.
    #[arg(long, global = true, value_name = "SIZE", default_value = "256Mi", value_parser = parse_size, env = "MODELOPS_MAX_RENDER_BYTES")]
    pub max_render_bytes: u64,
}

impl GlobalArgs {
    /// The settings every command shares, as plain values.
    pub fn settings(&self) -> crate::settings::Settings {
        crate::settings::Settings {
            api_retry_budget: self.api_retry_budget,
            input_limits: crate::archive::Limits {
                max_total_bytes: self.max_input_bytes,
                max_entries: self.max_input_files as usize,
                max_file_bytes: self.max_file_bytes,
            },
            max_render_bytes: self.max_render_bytes,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum OutputFormat {
    #[default]
    Table,
    Json,
    Yaml,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Render the chart for an IR without a cluster, like `helm template`.
    Render(RenderArgs),
    /// Print the merged values of an IR (channels, parameters, globals applied).
    Preprocess(InputArgs),
    /// Fetch, preprocess, render and apply a scoring job (Tekton task `install`).
    Install(InstallArgs),
    /// Watch a job until scoring completes, fails, times out or is cancelled (Tekton task `wait`).
    Wait(WaitArgs),
    /// Check that every scoring service really serves its models over the Open Inference
    /// Protocol: loaded, and answering sample requests right (Tekton task `validate`).
    Validate(ValidateArgs),
    /// Delete everything a job created (Tekton task `finally`).
    Finally(FinallyArgs),
    /// Cancel a job: through the Tekton PipelineRun that runs it (its finally task removes the
    /// job), else mark it Cancelled and remove it here.
    Cancel(CancelArgs),
    /// Show a job's state, current pipeline task and objects.
    Status(StatusArgs),
    /// List jobs.
    Jobs(JobsArgs),
    /// Package a chart directory into a reproducible `.tgz`.
    Package(PackageArgs),
    /// Plan the sub-charts' container builds as a Tekton Pipeline.
    BuildPlan(BuildPlanArgs),
    // Chart authors' tools (issue 18).
    /// Check a chart like `helm lint`: Chart.yaml, schema, templates, rendered objects (exit 1 on errors).
    Lint(LintArgs),
    /// Show what `install` would change (created, changed, pruned, unchanged); writes nothing.
    Diff(DiffArgs),
    // --- The data plane's own steps, run by the chart's init containers (docs/artifact-stores.md).
    /// Download, verify and unpack a scoring service's models (its init container).
    FetchModels(FetchModelsArgs),
    /// Wait until scoring services answer ready (a scoring flow's init container).
    AwaitServices(AwaitServicesArgs),
    /// The command line as JSON, for tools that check what runs the binary (tekton/validate).
    #[command(hide = true)]
    Interface,
}

/// Every subcommand with its flags (long name, `MODELOPS_*` variable) and the Tekton results it
/// writes, and the global flags: what `interface` prints, built from the parser itself.
pub fn interface() -> serde_json::Value {
    use clap::CommandFactory;
    let flags = |command: &clap::Command| -> Vec<serde_json::Value> {
        command
            .get_arguments()
            .filter_map(|arg| {
                let long = arg.get_long()?;
                Some(serde_json::json!({
                    "long": long,
                    "env": arg.get_env().map(|env| env.to_string_lossy().into_owned()),
                }))
            })
            .collect()
    };
    let root = Cli::command();
    let subcommands: Vec<serde_json::Value> = root
        .get_subcommands()
        .filter(|sub| !sub.is_hide_set())
        .map(|sub| {
            serde_json::json!({
                "name": sub.get_name(),
                "flags": flags(sub),
                "results": crate::tekton::results_of(sub.get_name()),
            })
        })
        .collect();
    serde_json::json!({
        "global_flags": flags(&root),
        "subcommands": subcommands,
    })
}

/// `diff`: install's inputs, plus how to exit.
#[derive(Debug, Args)]
pub struct DiffArgs {
    #[command(flatten)]
    pub install: InstallArgs,
    /// Exit 1 when an object would be created, changed, replaced or pruned (like `git diff
    /// --exit-code`).
    #[arg(long)]
    pub exit_code: bool,
}

/// `lint CHART [-f values.yaml]…`.
#[derive(Debug, Args)]
pub struct LintArgs {
    /// The chart: a directory or .tgz.
    pub chart: PathBuf,
    /// Values to lint with, merged in order over the charts' values.yaml (repeatable); for
    /// charts/modelops, a job's values (what `preprocess` prints).
    #[arg(short = 'f', long = "values", value_name = "FILE")]
    pub value_files: Vec<PathBuf>,
}

/// What shapes the rendered objects: shared by `render`, `preprocess` and `install`.
#[derive(Debug, Args, Clone)]
pub struct InputArgs {
    /// The IR: a directory, a .tar.gz, or an http(s) URL of a .tar.gz.
    #[arg(long, env = "MODELOPS_IR")]
    pub ir: String,
    /// Expected sha256 of the IR archive.
    #[arg(long, env = "MODELOPS_IR_SHA256")]
    pub ir_sha256: Option<String>,
    #[command(flatten)]
    pub ir_download: IrDownloadArgs,
    /// Offline data channel registry: a file or directory of ConfigMaps.
    #[arg(long, env = "MODELOPS_CHANNELS")]
    pub channels: Option<PathBuf>,
    /// Global settings (trace, git server, registry, resources), under `.global`; with install,
    /// they override the `modelops-globals` ConfigMap key by key.
    #[arg(long, env = "MODELOPS_GLOBALS")]
    pub globals: Option<PathBuf>,
    /// Pipeline parameter, highest precedence for `${name}` (repeatable).
    #[arg(long = "param", value_name = "NAME=VALUE")]
    pub params: Vec<String>,
    /// Override a value, Helm syntax (repeatable; wins over -f and --set-json).
    #[arg(long = "set", value_name = "PATH=VALUE")]
    pub sets: Vec<String>,
    // Helm's other value flags. Helm's order: `-f` files, then every --set-json, --set,
    // --set-string, --set-file (each kind in command-line order).
    /// Like --set, but every value is a string (`--set-string tag=0123`, `ids={1,2}`).
    #[arg(long = "set-string", value_name = "PATH=VALUE")]
    pub set_strings: Vec<String>,
    /// Like --set, but the value is a file's content, as a string (at most 1 MiB of UTF-8).
    #[arg(long = "set-file", value_name = "PATH=FILE")]
    pub set_files: Vec<String>,
    /// Like --set, but the value is JSON (`--set-json 'env=[{"name":"A","value":"1"}]'`).
    #[arg(long = "set-json", value_name = "PATH=JSON")]
    pub set_jsons: Vec<String>,
    /// Extra values file, merged in order over the generated values (repeatable).
    #[arg(short = 'f', long = "values", value_name = "FILE")]
    pub value_files: Vec<PathBuf>,
    /// The chart: a directory or .tgz (default: ./charts/modelops, then the image's copy).
    #[arg(long, env = "MODELOPS_CHART")]
    pub chart: Option<PathBuf>,
    /// Job id (default: the Tekton PipelineRun, else derived from the inputs).
    #[arg(long, env = "MODELOPS_JOB_ID")]
    pub job_id: Option<String>,
    /// Target namespace (default: the pipeline's, else `default`).
    #[arg(short, long, env = "MODELOPS_NAMESPACE")]
    pub namespace: Option<String>,
    /// Where the scoring services' `fetch-models` get object-store credentials: `reference` = the
    /// existing Secret `global.artifacts.credentialsSecret` names (install checks it first);
    /// `from-env` = install creates a job-owned Secret from its own AWS_*, GOOGLE_*, AZURE_*
    /// variables, deleted by finally (docs/artifact-stores.md).
    #[arg(long, value_name = "MODE", default_value = "reference",
          value_parser = one_of::<crate::artifacts::credentials::Mode>(&crate::artifacts::credentials::Mode::NAMES),
          env = "MODELOPS_ARTIFACT_CREDENTIALS")]
    pub artifact_credentials: crate::artifacts::credentials::Mode,
    /// The executor image the scoring pods' init containers run (`fetch-models`,
    /// `await-services`): `global.images.executor` at the lowest precedence, so globals and values
    /// still win. The Tasks pass their own image, so the data plane runs the binary that installs.
    #[arg(long, value_name = "IMAGE", value_parser = parse_image, env = "MODELOPS_EXECUTOR_IMAGE")]
    pub executor_image: Option<crate::names::ImageReference>,
}

/// How an IR URL is downloaded (docs/security.md, "Limits").
#[derive(Debug, Args, Clone)]
pub struct IrDownloadArgs {
    /// Longest wait for the TCP and TLS connection to the IR server, per attempt.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_duration, env = "MODELOPS_IR_CONNECT_TIMEOUT")]
    pub ir_connect_timeout: std::time::Duration,
    /// Longest silence of the IR server while its answer is awaited or read, per attempt: a
    /// stalled server fails the attempt after this long.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_duration, env = "MODELOPS_IR_READ_TIMEOUT")]
    pub ir_read_timeout: std::time::Duration,
    /// Longest the whole IR download may take, retries and their waits included.
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = parse_duration, env = "MODELOPS_IR_TIMEOUT")]
    pub ir_timeout: std::time::Duration,
    /// Attempts of the IR download in total, the first included.
    #[arg(long, value_name = "COUNT", default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=100), env = "MODELOPS_IR_ATTEMPTS")]
    pub ir_attempts: u32,
    /// Longest a server's `Retry-After` is obeyed before the next attempt (a longer one is
    /// logged and cut to this).
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_duration, env = "MODELOPS_IR_MAX_RETRY_AFTER")]
    pub ir_max_retry_after: std::time::Duration,
}

impl IrDownloadArgs {
    pub fn options(&self) -> crate::ir::fetch::HttpOptions {
        crate::ir::fetch::HttpOptions {
            connect_timeout: self.ir_connect_timeout,
            read_timeout: self.ir_read_timeout,
            total_timeout: self.ir_timeout,
            max_attempts: self.ir_attempts,
            max_retry_after: self.ir_max_retry_after,
            ..crate::ir::fetch::HttpOptions::default()
        }
    }
}

#[derive(Debug, Args)]
pub struct RenderArgs {
    #[command(flatten)]
    pub input: InputArgs,
    /// Write one file per template under this directory instead of printing.
    #[arg(long, value_name = "DIR")]
    pub output_dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct InstallArgs {
    #[command(flatten)]
    pub input: InputArgs,
    /// Namespace of the data channel registry.
    #[arg(
        long,
        default_value = "datachannels",
        env = "MODELOPS_CHANNELS_NAMESPACE"
    )]
    pub channels_namespace: String,
    /// Namespace of the `modelops-globals` ConfigMap, the platform's global settings (default:
    /// the executor's: its pod's namespace in a cluster, else the kubeconfig context's).
    #[arg(long, value_name = "NAMESPACE", env = "MODELOPS_GLOBALS_NAMESPACE")]
    pub globals_namespace: Option<String>,
    /// Read the `modelops-globals` ConfigMap (`--globals-configmap=false`: only `--globals FILE`).
    #[arg(long, value_name = "BOOL", default_value_t = true, num_args = 0..=1, require_equals = true,
          default_missing_value = "true", action = clap::ArgAction::Set, env = "MODELOPS_GLOBALS_CONFIGMAP")]
    pub globals_configmap: bool,
    /// Create the target namespace if it does not exist.
    #[arg(long, env = "MODELOPS_CREATE_NAMESPACE")]
    pub create_namespace: bool,
    /// Ask the API server to validate everything without persisting.
    #[arg(long, value_name = "MODE", num_args = 0..=1, default_missing_value = "server", value_parser = ["server"])]
    pub dry_run: Option<String>,
    /// Objects applied at once within a wave.
    #[arg(long, default_value_t = 16, env = "MODELOPS_CONCURRENCY")]
    pub concurrency: usize,
    /// The Tekton PipelineRun running this job (`NAME`, in the executor's namespace, or
    /// `NAMESPACE/NAME`), kept in the job record so `cancel` cancels that run and its finally task
    /// removes the job. The shipped install Task sets it from its pod's `tekton.dev/pipelineRun`
    /// label. Empty: none.
    #[arg(
        long,
        value_name = "NAME",
        default_value = "",
        hide_default_value = true,
        env = "MODELOPS_PIPELINE_RUN"
    )]
    pub pipeline_run: String,
    #[command(flatten)]
    pub readiness: ReadinessArgs,
    #[command(flatten)]
    pub retention: RetentionArgs,
    #[command(flatten)]
    pub run: RunArgs,
}

/// How long finished job records are kept (install and finally prune them, as `jobs --prune`).
#[derive(Debug, Args, Clone)]
pub struct RetentionArgs {
    /// Remove records of finished (uninstalled) jobs last updated longer ago than this.
    #[arg(long, default_value = "7d", value_parser = parse_duration, env = "MODELOPS_RECORD_RETENTION")]
    pub record_retention: std::time::Duration,
    /// Keep at most this many records of finished jobs per namespace (the newest).
    #[arg(long, default_value_t = 100, env = "MODELOPS_MAX_FINISHED_RECORDS")]
    pub max_finished_records: usize,
}

impl RetentionArgs {
    pub fn retention(&self) -> crate::cluster::record::Retention {
        crate::cluster::record::Retention {
            max_age: self.record_retention,
            max_count: self.max_finished_records,
        }
    }
}

/// Fail-fast thresholds of the readiness rules (README.md, Lifecycle guarantees).
#[derive(Debug, Args, Clone)]
pub struct ReadinessArgs {
    /// Restarts in CrashLoopBackOff before a pod counts as failed.
    #[arg(long, default_value_t = 3, env = "MODELOPS_MAX_RESTARTS")]
    pub max_restarts: i64,
    /// How long image pulls may fail before a pod counts as failed.
    #[arg(long, default_value = "60s", value_parser = parse_duration, env = "MODELOPS_IMAGE_PULL_GRACE")]
    pub image_pull_grace: std::time::Duration,
    /// How long a pod may stay unschedulable before it counts as failed.
    #[arg(long, default_value = "120s", value_parser = parse_duration, env = "MODELOPS_UNSCHEDULABLE_GRACE")]
    pub unschedulable_grace: std::time::Duration,
}

impl ReadinessArgs {
    pub fn policy(&self) -> crate::readiness::Policy {
        crate::readiness::Policy {
            image_pull_grace: self.image_pull_grace,
            unschedulable_grace: self.unschedulable_grace,
            max_restarts: self.max_restarts,
        }
    }
}

/// Deadline and Tekton results, shared by the cluster tasks.
#[derive(Debug, Args, Clone)]
pub struct RunArgs {
    /// Give up after this long (e.g. 90s, 10m, 1h).
    #[arg(long, value_parser = parse_duration, env = "MODELOPS_TIMEOUT")]
    pub timeout: Option<std::time::Duration>,
    /// Write Tekton results (job-id, values-digest, phase, endpoints, error) here.
    #[arg(long, env = "MODELOPS_RESULTS_DIR")]
    pub results_dir: Option<PathBuf>,
}

#[derive(Debug, Args, Clone)]
pub struct JobRef {
    #[arg(long, env = "MODELOPS_JOB_ID")]
    pub job_id: String,
    #[arg(short, long, env = "MODELOPS_NAMESPACE")]
    pub namespace: String,
}

#[derive(Debug, Args)]
pub struct WaitArgs {
    #[command(flatten)]
    pub job: JobRef,
    #[command(flatten)]
    pub readiness: ReadinessArgs,
    #[command(flatten)]
    pub run: RunArgs,
}

/// `validate --job-id ID --namespace NS [--requests FILE]` (docs/validation.md).
#[derive(Debug, Args)]
pub struct ValidateArgs {
    #[command(flatten)]
    pub job: JobRef,
    /// LOAD_ONLY checks that every model is loaded; LOAD_AND_QUERY also sends each model's sample
    /// requests; auto queries the models that have samples.
    #[arg(long, default_value = "auto", value_parser = one_of::<crate::validate::Mode>(&crate::validate::Mode::NAMES), env = "MODELOPS_VALIDATION_MODE")]
    pub mode: crate::validate::Mode,
    /// Sample requests per model (YAML: `models: [{name, version?, requests: [...]}]`); they
    /// replace the IR's `spec.validation` of those models.
    #[arg(long, value_name = "FILE", env = "MODELOPS_VALIDATION_REQUESTS")]
    pub requests: Option<PathBuf>,
    /// How long models may take to load (TFX's maximum loading time): until then, what is not
    /// ready is asked again; then the model is not blessed.
    #[arg(long, default_value = "5m", value_parser = parse_duration, env = "MODELOPS_TIMEOUT")]
    pub timeout: std::time::Duration,
    /// Pause between two questions to the same server or model.
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    pub interval: std::time::Duration,
    /// One request's limit.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    pub request_timeout: std::time::Duration,
    /// Requests in flight at once over all services (never more than one per model).
    #[arg(long, default_value_t = 16, env = "MODELOPS_CONCURRENCY")]
    pub concurrency: usize,
    /// Write the Tekton result `validation` here.
    #[arg(long, env = "MODELOPS_RESULTS_DIR")]
    pub results_dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct FinallyArgs {
    #[command(flatten)]
    pub job: JobRef,
    /// Delete with grace period 0.
    #[arg(long, env = "MODELOPS_FORCE")]
    pub force: bool,
    /// How deleting a workload reaches its pods, as in kubectl and Helm: `background` returns
    /// once every object of the job is gone and leaves the pods to the garbage collector;
    /// `foreground` deletes workloads after their pods, so the pods are gone too.
    #[arg(long, default_value = "background", value_parser = one_of::<Cascade>(&Cascade::NAMES), env = "MODELOPS_CASCADE")]
    pub cascade: Cascade,
    /// Objects deleted at once within a wave.
    #[arg(long, default_value_t = 16, env = "MODELOPS_CONCURRENCY")]
    pub concurrency: usize,
    #[command(flatten)]
    pub retention: RetentionArgs,
    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Debug, Args)]
pub struct CancelArgs {
    #[command(flatten)]
    pub job: JobRef,
    /// When the job is removed here: how deleting a workload reaches its pods (as `finally`).
    #[arg(long, default_value = "background", value_parser = one_of::<Cascade>(&Cascade::NAMES), env = "MODELOPS_CASCADE")]
    pub cascade: Cascade,
    /// When the job is removed here: objects deleted at once within a wave.
    #[arg(long, default_value_t = 16, env = "MODELOPS_CONCURRENCY")]
    pub concurrency: usize,
    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub job: JobRef,
    #[arg(short, long, value_enum, default_value_t)]
    pub output: OutputFormat,
}

#[derive(Debug, Args)]
pub struct JobsArgs {
    #[arg(
        short,
        long,
        env = "MODELOPS_NAMESPACE",
        conflicts_with = "all_namespaces"
    )]
    pub namespace: Option<String>,
    /// All namespaces.
    #[arg(short = 'A', long)]
    pub all_namespaces: bool,
    /// First remove the records of finished jobs past the retention.
    #[arg(long)]
    pub prune: bool,
    #[command(flatten)]
    pub retention: RetentionArgs,
    #[arg(short, long, value_enum, default_value_t)]
    pub output: OutputFormat,
}

#[derive(Debug, Args)]
pub struct PackageArgs {
    pub chart_dir: PathBuf,
    /// Directory for the archive.
    #[arg(short = 'd', long, default_value = ".")]
    pub destination: PathBuf,
}

#[derive(Debug, Args)]
pub struct BuildPlanArgs {
    #[arg(long, env = "MODELOPS_CHART")]
    pub chart: Option<PathBuf>,
    /// Write the Pipeline here instead of stdout.
    #[arg(short, long)]
    pub output: Option<PathBuf>,
}

// --- The data plane's own steps (docs/artifact-stores.md). ---

#[derive(Debug, Args)]
pub struct FetchModelsArgs {
    /// The model list: a JSON array of {name, version, uri, sha256} (the `models.json` key of
    /// the scoring service's `<service>-models` ConfigMap).
    #[arg(long, value_name = "FILE", env = "MODELOPS_MODELS_FILE")]
    pub models: PathBuf,
    /// Where models land, as `<DIR>/<name>/<version>/`.
    #[arg(long, value_name = "DIR", env = "MODELOPS_MODEL_DIR")]
    pub model_dir: PathBuf,
    /// Models downloaded at once.
    #[arg(long, default_value_t = 4, env = "MODELOPS_FETCH_CONCURRENCY")]
    pub concurrency: usize,
    /// Tries per model on transient failures (connection, timeout, 5xx), with doubling backoff.
    #[arg(long, default_value_t = 5, env = "MODELOPS_FETCH_ATTEMPTS")]
    pub attempts: u32,
    /// First delay between tries.
    #[arg(long, default_value = "2s", value_parser = parse_duration, env = "MODELOPS_FETCH_BACKOFF")]
    pub backoff: std::time::Duration,
    /// Largest artifact accepted, in bytes (default 20 GiB).
    #[arg(long, default_value_t = 20 * 1024 * 1024 * 1024, env = "MODELOPS_MAX_MODEL_BYTES")]
    pub max_model_bytes: u64,
    /// Longest silence on a connection before the try fails.
    #[arg(long, default_value = "60s", value_parser = parse_duration, env = "MODELOPS_FETCH_READ_TIMEOUT")]
    pub read_timeout: std::time::Duration,
    /// How often a download logs its progress.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    pub progress_every: std::time::Duration,
    /// The credentials Secret mounted as files (the chart mounts it here): a Google Cloud
    /// service account `google-application-credentials.json` in it is used unless a GOOGLE_*
    /// variable names one.
    #[arg(long, value_name = "DIR", env = "MODELOPS_CREDENTIALS_DIR")]
    pub credentials_dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct AwaitServicesArgs {
    /// Base URL of a scoring service, e.g. http://fraud-scoring-pmml:8080 (repeatable).
    #[arg(
        long = "service",
        value_name = "URL",
        required = true,
        env = "MODELOPS_SERVICES",
        value_delimiter = ','
    )]
    pub services: Vec<String>,
    /// The health path that answers 2xx when a service is ready (Open Inference Protocol).
    #[arg(long, default_value = "/v2/health/ready", env = "MODELOPS_READY_PATH")]
    pub ready_path: String,
    /// Give up after this long (exit 4).
    #[arg(long, default_value = "10m", value_parser = parse_duration, env = "MODELOPS_TIMEOUT")]
    pub timeout: std::time::Duration,
    /// Time between two checks of a service.
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    pub interval: std::time::Duration,
}

/// `90s`, `10m`, `1h30m`, `500ms`; a bare number is seconds.
pub fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    let text = text.trim();
    if let Ok(seconds) = text.parse::<u64>() {
        return Ok(std::time::Duration::from_secs(seconds));
    }
    let mut total = 0u64;
    let mut number = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let value: u64 = number
            .parse()
            .map_err(|_| format!("`{text}` is not a duration (e.g. 90s, 10m, 1h30m)"))?;
        number.clear();
        let millis = match c {
            'm' if chars.peek() == Some(&'s') => {
                chars.next();
                1
            }
            'd' => 86_400_000,
            'h' => 3_600_000,
            'm' => 60_000,
            's' => 1_000,
            _ => {
                return Err(format!(
                    "`{text}` is not a duration (units: ms, s, m, h, d)"
                ));
            }
        };
        total = value
            .checked_mul(millis)
            .and_then(|millis| total.checked_add(millis))
            .ok_or_else(|| format!("`{text}` is too long a duration"))?;
    }
    if !number.is_empty() {
        return Err(format!(
            "`{text}` is not a duration: a unit is missing after {number}"
        ));
    }
    if total == 0 {
        return Err(format!("`{text}` must be longer than zero"));
    }
    Ok(std::time::Duration::from_millis(total))
}

/// A flag whose value is one of `names`, parsed into the library's own type (library types do
/// not derive clap's traits).
fn parse_image(text: &str) -> Result<crate::names::ImageReference, String> {
    text.parse()
}

fn one_of<T>(names: &'static [&'static str]) -> impl clap::builder::TypedValueParser<Value = T>
where
    T: std::str::FromStr<Err = String> + Clone + Send + Sync + 'static,
{
    use clap::builder::TypedValueParser as _;
    clap::builder::PossibleValuesParser::new(names).try_map(|text| text.parse::<T>())
}

/// A size in bytes: a number, optionally with a binary unit (`Ki`, `Mi`, `Gi`, `Ti`, with or
/// without a trailing `B`), e.g. `64Mi`, `1GiB`, `1048576`.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let digits_end = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(digits_end);
    let number: u64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a size (e.g. 16Mi, 1Gi, 1048576)"))?;
    let shift = match unit.trim().trim_end_matches('B') {
        "" => 0,
        "Ki" => 10,
        "Mi" => 20,
        "Gi" => 30,
        "Ti" => 40,
        _ => return Err(format!("`{text}` is not a size (units: Ki, Mi, Gi, Ti)")),
    };
    let bytes = number
        .checked_mul(1u64 << shift)
        .ok_or_else(|| format!("`{text}` is too large a size"))?;
    if bytes == 0 {
        return Err(format!("`{text}` must be larger than zero"));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;
    use std::time::Duration;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("1h30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert!(parse_duration("10x").is_err());
        assert!(parse_duration("10m5").is_err());
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("99999999999999999d").is_err());
        assert!(parse_duration("18446744073709551615s1s").is_err());
    }

    #[test]
    fn interface_lists_every_task_subcommand_with_its_results_and_variables() {
        let interface = interface();
        let subcommands = interface["subcommands"].as_array().unwrap();
        for (name, results) in crate::tekton::TASK_RESULTS {
            let sub = subcommands
                .iter()
                .find(|s| s["name"] == name)
                .unwrap_or_else(|| panic!("{name} is missing"));
            assert_eq!(sub["results"], serde_json::json!(results), "{name}");
            assert!(
                sub["flags"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|f| f["long"] == "job-id" && f["env"] == "MODELOPS_JOB_ID"),
                "{name}: {sub}"
            );
        }
        assert!(subcommands.iter().all(|s| s["name"] != "interface"));
        assert!(
            interface["global_flags"]
                .as_array()
                .unwrap()
                .iter()
                .any(|f| f["long"] == "max-input-bytes" && f["env"] == "MODELOPS_MAX_INPUT_BYTES")
        );
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("1048576").unwrap(), 1 << 20);
        assert_eq!(parse_size("64Mi").unwrap(), 64 << 20);
        assert_eq!(parse_size("1GiB").unwrap(), 1 << 30);
        assert_eq!(parse_size("2Ki").unwrap(), 2048);
        for bad in [
            "",
            "Mi",
            "10M",
            "10 MB",
            "-1",
            "1.5Gi",
            "0",
            "0Mi",
            "99999999999Ti",
        ] {
            assert!(parse_size(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn limits_reach_the_settings() {
        let cli = Cli::try_parse_from([
            "modelops-executor",
            "render",
            "--ir",
            "x",
            "--max-input-bytes",
            "1Gi",
            "--max-input-files",
            "7",
            "--max-file-bytes",
            "2Mi",
            "--ir-read-timeout",
            "5s",
            "--ir-timeout",
            "1m",
            "--ir-attempts",
            "2",
        ])
        .unwrap();
        let limits = cli.global.settings().input_limits;
        assert_eq!(
            (
                limits.max_total_bytes,
                limits.max_entries,
                limits.max_file_bytes
            ),
            (1 << 30, 7, 2 << 20)
        );
        let Command::Render(render) = cli.command else {
            panic!("not render")
        };
        let http = render.input.ir_download.options();
        assert_eq!(http.read_timeout, Duration::from_secs(5));
        assert_eq!(http.total_timeout, Duration::from_secs(60));
        assert_eq!(http.max_attempts, 2);
        let defaults = crate::ir::fetch::HttpOptions::default();
        assert_eq!(http.connect_timeout, defaults.connect_timeout);
        assert_eq!(http.max_retry_after, defaults.max_retry_after);
    }
}
