//! `values.schema.json`, as in Helm: a JSON Schema in a chart (and in each sub-chart) that the
//! chart's coalesced values must match before anything is rendered. `$ref`s resolve only within
//! the schema itself: nothing is fetched, from the network or from files.

use super::{ChartError, Scoped};
use serde_json::Value;
use std::sync::Arc;

/// The file Helm reads a chart's values schema from.
pub const FILE: &str = "values.schema.json";

/// At most this many problems are listed; the rest are counted.
const MAX_LISTED: usize = 20;

/// A chart's compiled values schema.
#[derive(Clone)]
pub struct ValuesSchema {
    /// `<chart path>/values.schema.json`, for messages.
    pub file: String,
    validator: Arc<jsonschema::Validator>,
}

impl std::fmt::Debug for ValuesSchema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ValuesSchema")
            .field("file", &self.file)
            .finish_non_exhaustive()
    }
}

/// Values that break their chart's schema: every problem, with the values path and the rule.
#[derive(Debug, thiserror::Error)]
#[error("the values do not match the charts' {FILE}: {}", list(.problems, *.more))]
pub struct SchemaError {
    pub problems: Vec<String>,
    /// Problems found beyond those listed.
    pub more: usize,
}

fn list(problems: &[String], more: usize) -> String {
    let mut out = String::new();
    for problem in problems {
        out.push_str("\n  - ");
        out.push_str(problem);
    }
    if more > 0 {
        out.push_str(&format!("\n  … and {more} more"));
    }
    out
}

impl ValuesSchema {
    /// Parses and compiles a chart's `values.schema.json`; `origin` names the chart's files and
    /// `chart_path` its place in the tree.
    pub fn compile(origin: &str, chart_path: &str, text: &str) -> Result<Self, ChartError> {
        let invalid = |reason: String| ChartError::Invalid {
            chart: origin.to_string(),
            file: FILE.to_string(),
            reason,
        };
        let schema: Value = serde_json::from_str(text)
            .map_err(|err| invalid(format!("is not valid JSON: {err}")))?;
        let validator = jsonschema::options()
            .build(&schema)
            .map_err(|err| invalid(format!("is not a valid JSON Schema: {err}")))?;
        Ok(ValuesSchema {
            file: format!("{chart_path}/{FILE}"),
            validator: Arc::new(validator),
        })
    }

    /// The problems of `values` against this schema, each as `<file>: <path>: <message> (rule)`.
    fn problems(&self, values: &Value, out: &mut Vec<String>, more: &mut usize) {
        for error in self.validator.iter_errors(values) {
            if out.len() >= MAX_LISTED {
                *more += 1;
                continue;
            }
            let path = values_path(error.instance_path().segments());
            let message = without_text_values(&error);
            out.push(format!(
                "{}: `{path}`: {message} (rule: {})",
                self.file,
                error.kind().keyword()
            ));
        }
    }
}

/// The message, which starts with the offending value: a string, list or mapping (possibly a
/// secret, possibly huge) is described by its type instead; numbers and booleans stay.
fn without_text_values(error: &jsonschema::ValidationError<'_>) -> String {
    let message = error.to_string();
    let instance = error.instance();
    if instance.is_string() || instance.is_array() || instance.is_object() {
        let shown = instance.to_string();
        if let Some(rest) = message.strip_prefix(shown.as_str()) {
            return format!("the value ({}){rest}", crate::schema::type_name(instance));
        }
    }
    message
}

/// Checks every enabled chart's coalesced values against its schema, all charts at once.
pub fn check(scoped: &[Scoped<'_>]) -> Result<(), SchemaError> {
    let (mut problems, mut more) = (Vec::new(), 0);
    for scope in scoped {
        if let Some(schema) = &scope.chart.schema {
            schema.problems(&scope.values, &mut problems, &mut more);
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(SchemaError { problems, more })
    }
}

/// `a.b[0].c`, as `--set` writes it (a dot inside a key escaped as `\.`); `(root)` for the whole.
fn values_path<'a>(
    segments: impl Iterator<Item = jsonschema::paths::LocationSegment<'a>>,
) -> String {
    use jsonschema::paths::LocationSegment;
    let mut path = String::new();
    for segment in segments {
        match segment {
            LocationSegment::Index(index) => path.push_str(&format!("[{index}]")),
            LocationSegment::Property(key) => {
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(&key.replace('.', "\\."));
            }
        }
    }
    if path.is_empty() {
        "(root)".to_string()
    } else {
        path
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::archive::Files;
    use crate::chart::{Chart, coalesce};
    use serde_json::json;

    fn chart(entries: &[(&str, &str)]) -> Result<Chart, ChartError> {
        Chart::from_files(&Files::from_texts("top", entries), None)
    }

    const TOP_SCHEMA: &str = r#"{"type": "object", "properties": {
        "replicas": {"type": "integer", "minimum": 1},
        "password": {"type": "integer"},
        "items": {"type": "array", "items": {"type": "object", "required": ["name"]}}}}"#;
    const SUB_SCHEMA: &str = r#"{"type": "object", "properties": {
        "mode": {"enum": ["batch", "streaming"]}, "global": {"type": "object"}},
        "additionalProperties": false}"#;

    fn umbrella() -> Chart {
        chart(&[
            ("Chart.yaml", "apiVersion: v2\nname: top\nversion: 1.0.0\n"),
            ("values.yaml", "replicas: 1\nsub: {mode: batch}\n"),
            ("values.schema.json", TOP_SCHEMA),
            (
                "charts/sub/Chart.yaml",
                "apiVersion: v2\nname: sub\nversion: 0.1.0\n",
            ),
            ("charts/sub/values.yaml", "mode: streaming\n"),
            ("charts/sub/values.schema.json", SUB_SCHEMA),
        ])
        .unwrap()
    }

    #[test]
    fn valid_values_pass_in_every_chart() {
        let chart = umbrella();
        let values = json!({"replicas": 2, "global": {"x": 1}, "items": [{"name": "a"}]});
        check(&coalesce(&chart, &values)).unwrap();
    }

    #[test]
    fn problems_name_the_file_the_values_path_and_the_rule() {
        let chart = umbrella();
        let values = json!({"replicas": 0, "items": [{"name": "a"}, {}], "password": "hunter2",
                            "sub": {"mode": "offline", "extra.key": 1}});
        let err = check(&coalesce(&chart, &values)).unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with("the values do not match the charts' values.schema.json:"),
            "{text}"
        );
        for expected in [
            "top/values.schema.json: `replicas`: 0 is less than the minimum of 1 (rule: minimum)",
            "top/values.schema.json: `items[1]`: \"name\" is a required property (rule: required)",
            "top/values.schema.json: `password`: the value (a string) is not of type \"integer\" (rule: type)",
            "top/charts/sub/values.schema.json: `mode`: the value (a string) is not one of",
            "top/charts/sub/values.schema.json: `(root)`: Additional properties are not allowed ('extra.key' was unexpected) (rule: additionalProperties)",
        ] {
            assert!(text.contains(expected), "lacks `{expected}`:\n{text}");
        }
        assert!(!text.contains("hunter2"), "a value leaked: {text}");
    }

    #[test]
    fn many_problems_are_counted_beyond_the_listed_ones() {
        let schema = r#"{"additionalProperties": {"type": "integer"}}"#;
        let chart = chart(&[
            ("Chart.yaml", "apiVersion: v2\nname: top\nversion: 1.0.0\n"),
            ("values.schema.json", schema),
        ])
        .unwrap();
        let values: serde_json::Map<String, Value> =
            (0..30).map(|i| (format!("k{i}"), json!("s"))).collect();
        let err = check(&coalesce(&chart, &Value::Object(values))).unwrap_err();
        assert_eq!((err.problems.len(), err.more), (MAX_LISTED, 10));
    }

    #[test]
    fn a_broken_schema_is_a_chart_error() {
        let base = [("Chart.yaml", "apiVersion: v2\nname: top\nversion: 1.0.0\n")];
        let err = chart(&[base[0], ("values.schema.json", "{not json")])
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("top: values.schema.json: is not valid JSON"),
            "{err}"
        );
        let err = chart(&[base[0], ("values.schema.json", r#"{"type": 12}"#)])
            .unwrap_err()
            .to_string();
        assert!(err.contains("is not a valid JSON Schema"), "{err}");
        // No fetching: a remote $ref does not resolve.
        let remote = r#"{"$ref": "https://example.com/schema.json"}"#;
        assert!(chart(&[base[0], ("values.schema.json", remote)]).is_err());
    }
}
