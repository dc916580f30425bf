//! YAML at the edges only: documents are parsed into `serde_json::Value` trees (sorted keys, what
//! Handlebars consumes) and emitted back. The one YAML library of the crate is `serde_norway`,
//! the maintained fork of the archived `serde_yaml` (docs/design-choices.md).

use serde::Deserialize;
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

/// Parses every non-empty document of a multi-document YAML stream. Empty documents (only
/// comments or whitespace, as templates often produce) are skipped but still counted.
pub fn parse_documents(text: &str) -> Result<Vec<Document>, YamlError> {
    let starts = document_start_lines(text);
    let mut documents = Vec::new();
    for (position, de) in serde_norway::Deserializer::from_str(text).enumerate() {
        let value = Option::<Value>::deserialize(de)?;
        let line = starts.get(position).copied().unwrap_or(1);
        if let Some(value) = value {
            documents.push(Document {
                index: position + 1,
                line,
                value,
            });
        }
    }
    Ok(documents)
}

/// Parses a single-document YAML text (a values file, a Chart.yaml). Empty text is `null`.
pub fn parse_one(text: &str) -> Result<Value, YamlError> {
    let mut docs = parse_documents(text)?;
    match docs.len() {
        0 => Ok(Value::Null),
        1 => Ok(docs.remove(0).value),
        n => Err(YamlError {
            message: format!("expected one YAML document, found {n}"),
            location: None,
        }),
    }
}

/// Emits a value as a YAML document (no leading `---`, trailing newline).
pub fn to_string(value: &Value) -> String {
    serde_norway::to_string(value).expect("a JSON value always serialises to YAML")
}

/// 1-based first line of each document, so errors can point into a multi-document file.
fn document_start_lines(text: &str) -> Vec<usize> {
    let mut starts = vec![1];
    for (number, line) in text.lines().enumerate() {
        if is_separator(line) && number > 0 {
            starts.push(number + 2);
        } else if is_separator(line) && number == 0 {
            starts[0] = 2;
        }
    }
    starts
}

pub(crate) fn is_separator(line: &str) -> bool {
    line.strip_prefix("---")
        .is_some_and(|rest| rest.is_empty() || rest.starts_with([' ', '\t', '#']))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_multi_document_stream_with_lines() {
        let docs = parse_documents("a: 1\n---\n# only a comment\n---\nb: [x]\n").unwrap();
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[0].value, json!({"a": 1}));
        assert_eq!((docs[0].index, docs[0].line), (1, 1));
        assert_eq!(docs[1].value, json!({"b": ["x"]}));
        assert_eq!((docs[1].index, docs[1].line), (3, 5));
    }

    #[test]
    fn leading_separator_is_not_an_extra_document() {
        let docs = parse_documents("---\na: 1\n").unwrap();
        assert_eq!(docs.len(), 1);
        assert_eq!(docs[0].line, 2);
    }

    #[test]
    fn syntax_error_has_location() {
        let err = parse_documents("a: 1\nb: [unclosed\n").unwrap_err();
        assert!(err.location.is_some(), "{err:?}");
        assert!(err.to_string().starts_with("line "), "{err}");
    }

    #[test]
    fn emits_sorted_keys() {
        assert_eq!(to_string(&json!({"b": 1, "a": "2"})), "a: '2'\nb: 1\n");
    }
}
