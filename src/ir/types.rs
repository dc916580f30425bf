//! The IR's types: what `parse` builds and the later stages read.

use crate::diagnostics::{Diagnostics, Origin};
use std::collections::BTreeMap;
use std::fmt;

pub const API_VERSION: &str = "modelops.io/v1";

#[derive(Debug, thiserror::Error)]
#[error("{diagnostics}")]
pub struct IrError {
    pub diagnostics: Diagnostics,
}

/// A validated IR: exactly one pipeline, the flows and models it is made of.
#[derive(Debug, Clone)]
pub struct Ir {
    pub pipeline: Pipeline,
    pub flows: BTreeMap<String, Flow>,
    pub models: BTreeMap<String, Model>,
}

#[derive(Debug, Clone)]
pub struct Pipeline {
    pub origin: Origin,
    pub name: String,
    pub namespace: Option<String>,
    pub mode: Mode,
    pub parameters: BTreeMap<String, String>,
    pub flows: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Batch,
    Streaming,
}

impl Mode {
    pub const NAMES: [&'static str; 2] = ["batch", "streaming"];

    pub fn parse(text: &str) -> Option<Mode> {
        match text {
            "batch" => Some(Mode::Batch),
            "streaming" => Some(Mode::Streaming),
            _ => None,
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Mode::Batch => "batch",
            Mode::Streaming => "streaming",
        })
    }
}

#[derive(Debug, Clone)]
pub struct Model {
    pub origin: Origin,
    pub name: String,
    pub format: ModelFormat,
    pub version: String,
    pub uri: String,
    pub sha256: Option<String>,
    /// `spec.validation`: sample requests for `validate` (docs/validation.md), checked when the
    /// IR is read and passed to the scoring service's model list as written.
    pub validation: Option<serde_json::Value>,
}

/// Model formats and the scoring service runtime that serves each (docs/ir.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ModelFormat {
    Pmml,
    PythonBinary,
    PythonScript,
    Statistica,
    TensorflowGraph,
    TensorflowModel,
    RData,
    RObject,
}

impl ModelFormat {
    pub const ALL: [(&'static str, ModelFormat); 8] = [
        ("PMML", ModelFormat::Pmml),
        ("PYTHON_BINARY", ModelFormat::PythonBinary),
        ("PYTHON_SCRIPT", ModelFormat::PythonScript),
        ("STATISTICA", ModelFormat::Statistica),
        ("TENSORFLOW_GRAPH", ModelFormat::TensorflowGraph),
        ("TENSORFLOW_MODEL", ModelFormat::TensorflowModel),
        ("R_DATA", ModelFormat::RData),
        ("R_OBJECT", ModelFormat::RObject),
    ];

    pub fn parse(text: &str) -> Option<ModelFormat> {
        Self::ALL
            .iter()
            .find(|(name, _)| *name == text)
            .map(|(_, format)| *format)
    }

    pub fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(_, format)| *format == self)
            .map(|(name, _)| *name)
            .unwrap_or("?")
    }

    pub fn runtime(self) -> Runtime {
        match self {
            ModelFormat::Pmml => Runtime::Pmml,
            ModelFormat::PythonBinary | ModelFormat::PythonScript => Runtime::Python,
            ModelFormat::Statistica => Runtime::Statistica,
            ModelFormat::TensorflowGraph | ModelFormat::TensorflowModel => Runtime::Tensorflow,
            ModelFormat::RData | ModelFormat::RObject => Runtime::R,
        }
    }
}

/// A scoring service runtime; one scoring service per runtime used by a pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Runtime {
    Pmml,
    Python,
    R,
    Statistica,
    Tensorflow,
}

impl Runtime {
    pub fn name(self) -> &'static str {
        match self {
            Runtime::Pmml => "pmml",
            Runtime::Python => "python",
            Runtime::R => "r",
            Runtime::Statistica => "statistica",
            Runtime::Tensorflow => "tensorflow",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Flow {
    pub origin: Origin,
    pub name: String,
    pub source: ChannelRef,
    pub sink: ChannelRef,
    pub steps: Vec<Step>,
    pub parameters: BTreeMap<String, String>,
    pub replicas: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelRef {
    pub channel: String,
    pub format: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub name: String,
    pub action: StepAction,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepAction {
    Model(String),
    Expression(String),
}
