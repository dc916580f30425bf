//! What parsing a YAML stream gives: its documents, or an error with its place.

use serde_json::Value;

/// One YAML document of a stream, with the 1-based line where it starts.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    /// 1-based position in the stream, counting empty documents too.
    pub index: usize,
    pub line: usize,
    pub value: Value,
}

/// A YAML syntax or type error, positioned in the stream.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{message}", location.map(|(l, c)| format!("line {l}, column {c}: ")).unwrap_or_default())]
pub struct YamlError {
    pub message: String,
    pub location: Option<(usize, usize)>,
}

impl From<serde_norway::Error> for YamlError {
    fn from(err: serde_norway::Error) -> Self {
        let location = err.location().map(|l| (l.line(), l.column()));
        let mut message = err.to_string();
        // serde_norway appends "at line X column Y"; the location is reported separately.
        if let Some(pos) = message.find(" at line ") {
            message.truncate(pos);
        }
        YamlError { message, location }
    }
}
