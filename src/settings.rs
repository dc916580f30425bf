//! What the commands read besides their own arguments, resolved once (arguments, then the
//! `MODELOPS_*` environment, then defaults: clap does that in `cli.rs`) into plain typed values,
//! so that nothing below `commands/` sees a clap type or reads the environment.

use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// How long one Kubernetes API request is retried (`--api-retry-budget`).
    pub api_retry_budget: Duration,
    /// Bounds on every input read from files, directories, archives and downloads
    /// (`--max-input-bytes`, `--max-input-files`, `--max-file-bytes`).
    pub input_limits: crate::archive::Limits,
    /// How many bytes one chart template may write (`--max-render-bytes`).
    pub max_render_bytes: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            api_retry_budget: crate::cluster::DEFAULT_RETRY_BUDGET,
            input_limits: crate::archive::Limits::default(),
            max_render_bytes: crate::render::DEFAULT_MAX_TEMPLATE_OUTPUT_BYTES,
        }
    }
}
