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
    // Colour only for a person at a terminal: Tekton logs and files get plain text.
    let colour = std::io::IsTerminal::is_terminal(&std::io::stderr())
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(colour)
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

/// The command's final error on stderr: the chain as text, or with `--log-format json` one JSON
/// line (`level`, `message`, `causes`, `exit_code`) like the log lines before it.
pub fn final_error(format: LogFormat, chain: &str, exit_code: u8) -> String {
    match format {
        LogFormat::Text => chain.to_string(),
        LogFormat::Json => {
            let mut lines = chain.lines();
            let message = lines
                .next()
                .unwrap_or_default()
                .trim_start_matches("error: ")
                .to_string();
            let causes: Vec<&str> = lines
                .map(|line| line.trim().trim_start_matches("caused by: "))
                .collect();
            serde_json::json!({
                "timestamp": jiff::Timestamp::now().to_string(),
                "level": "ERROR",
                "message": message,
                "causes": causes,
                "exit_code": exit_code,
            })
            .to_string()
        }
    }
}

/// A panic is a bug: one line on stderr (no backtrace, no values) and exit code 70, distinct
/// from every documented exit code.
pub fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let location = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        eprintln!(
            "error: internal error{location} (a bug in modelops-executor; please report it with the command that caused it)"
        );
        std::process::exit(PANIC_EXIT_CODE);
    }));
}

/// The exit code of a panic (EX_SOFTWARE).
pub const PANIC_EXIT_CODE: i32 = 70;
