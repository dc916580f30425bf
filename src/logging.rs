//! Progress and diagnostics on stderr: readable text for people, JSON lines for machines.
//! stdout stays for command output (values, manifests, tables).

use crate::cli::{GlobalArgs, LogFormat};
use tracing_subscriber::EnvFilter;

pub fn init(args: &GlobalArgs) {
    let level = match (args.quiet, args.verbose) {
        (true, _) => "error",
        (false, 0) => "info",
        (false, 1) => "debug",
        (false, _) => "trace",
    };
    // RUST_LOG still refines per module; our own crate follows -v/-q, dependencies stay quiet.
    // kube-client's trace layer logs every connection error and 5xx at ERROR level, also those
    // that the retry loop then rides out; the retry loop logs each of them itself (a warning
    // with what, attempt and cause) and the final error says what failed.
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        EnvFilter::new(format!(
            "warn,kube_client::client::builder=off,modelops_executor={level}"
        ))
    });
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false);
    let result = match args.log_format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .try_init(),
        LogFormat::Text => builder.compact().try_init(),
    };
    // A second init (tests) keeps the first subscriber.
    let _ = result;
}
