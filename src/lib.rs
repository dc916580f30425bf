//! modelops-executor: installs, watches and removes ML scoring pipelines on Kubernetes.
//!
//! The data flows through one module per stage:
//! `ir` (fetch + validate) → `preprocess` (channels, parameters, globals → values)
//! → `chart` (load + coalesce) → `render` (Handlebars) → `manifest` (objects, labels, order)
//! → `cluster` (the only module that talks to Kubernetes).

pub mod archive;
pub mod artifacts;
pub mod await_services;
pub mod backoff;
pub mod buildplan;
pub mod chart;
pub mod cli;
pub mod cluster;
pub mod commands;
pub mod diagnostics;
pub mod digest;
pub mod error;
pub mod error_chain;
pub mod ir;
pub mod job;
pub mod k8s;
pub mod lint;
pub mod logging;
pub mod manifest;
pub mod names;
pub mod parallel;
pub mod preprocess;
pub mod readiness;
pub mod render;
pub mod schema;
pub mod settings;
pub mod tekton;
pub mod validate;
pub mod values;
pub mod yaml;

pub use error::{Error, ExitStatus};
