//! Sample inference requests of LOAD_AND_QUERY (docs/validation.md): read from a Model's
//! `spec.validation` in the IR or from `validate --requests FILE`, with every problem reported by
//! file, document and field.
//!
//! One sample is an Open Inference Protocol request body and, optionally, what the answer must
//! hold:
//!
//! ```yaml
//! requests:
//!   - request: {inputs: [{name: x, shape: [1, 4], datatype: FP64, data: [5.1, 3.5, 1.4, 0.2]}]}
//!     expected:
//!       outputs: [{name: predict, shape: [1], data: [0]}]
//!       tolerance: 0.000001
//! ```

use crate::diagnostics::{Diagnostics, Origin};
use crate::schema::{Reader, join, type_name};
use serde_json::{Map, Value};

/// Keys of a Model's `spec.validation` and of a model entry's samples in a requests file.
const VALIDATION_KEYS: [&str; 1] = ["requests"];
const SAMPLE_KEYS: [&str; 2] = ["request", "expected"];
const EXPECTED_KEYS: [&str; 2] = ["outputs", "tolerance"];
const OUTPUT_KEYS: [&str; 4] = ["name", "shape", "datatype", "data"];
const FILE_MODEL_KEYS: [&str; 3] = ["name", "version", "requests"];

#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// The request body, sent as it is.
    pub request: Value,
    pub expected: Option<Expected>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Expected {
    pub outputs: Vec<ExpectedOutput>,
    /// Largest accepted |answer − expected| for numbers; 0 (the default) means equal.
    pub tolerance: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ExpectedOutput {
    /// Matched by name; without one, by position in the answer's `outputs`.
    pub name: Option<String>,
    pub shape: Option<Vec<u64>>,
    pub datatype: Option<String>,
    /// Flattened, row-major.
    pub data: Vec<Value>,
}

/// The samples of one model in a `--requests` file; `version: None` means every version.
#[derive(Debug, Clone, PartialEq)]
pub struct FileEntry {
    pub name: String,
    pub version: Option<String>,
    pub samples: Vec<Sample>,
}

/// A Model's `spec.validation` (the IR, or a models.json entry), at `path`.
pub fn read_validation(r: &mut Reader, value: &Value, path: &str) -> Vec<Sample> {
    let Some(map) = r.mapping(value, path, &VALIDATION_KEYS) else {
        return Vec::new();
    };
    read_requests(r, map, path)
}

/// The `--requests` file: `models: [{name, version?, requests: [...]}]`.
pub fn read_file(file: &str, text: &str) -> Result<Vec<FileEntry>, Diagnostics> {
    let mut diagnostics = Diagnostics::default();
    let origin = Origin::new(file, 1);
    let value = match crate::yaml::parse_one(text) {
        Ok(value) => value,
        Err(err) => {
            diagnostics.push(&origin, "", err.to_string());
            return Err(diagnostics);
        }
    };
    let mut entries: Vec<FileEntry> = Vec::new();
    let mut r = Reader::new(origin, &mut diagnostics);
    if let Some(top) = r.mapping(&value, "", &["models"]) {
        match r.list(top, "", "models") {
            None => r.error("models", "is required: a list of {name, version, requests}"),
            Some(models) => {
                for (i, model) in models.iter().enumerate() {
                    let path = format!("models[{i}]");
                    let Some(map) = r.mapping(model, &path, &FILE_MODEL_KEYS) else {
                        continue;
                    };
                    let name = r.required_string(map, &path, "name");
                    let version = r.optional_string(map, &path, "version");
                    if !map.contains_key("requests") {
                        r.error(&join(&path, "requests"), "is required");
                    }
                    let samples = read_requests(&mut r, map, &path);
                    if let Some(name) = name {
                        if entries
                            .iter()
                            .any(|e| e.name == name && e.version == version)
                        {
                            r.error(
                                &join(&path, "name"),
                                format!("model `{name}` is listed twice"),
                            );
                        }
                        entries.push(FileEntry {
                            name,
                            version,
                            samples,
                        });
                    }
                }
            }
        }
    }
    diagnostics.into_result(entries)
}

fn read_requests(r: &mut Reader, map: &Map<String, Value>, parent: &str) -> Vec<Sample> {
    let path = join(parent, "requests");
    let Some(items) = r
        .list(map, parent, "requests")
        .map(|items| items.as_slice())
    else {
        return Vec::new();
    };
    if items.is_empty() {
        r.error(&path, "must hold at least one sample request");
    }
    items
        .iter()
        .enumerate()
        .filter_map(|(i, item)| read_sample(r, item, &format!("{path}[{i}]")))
        .collect()
}

fn read_sample(r: &mut Reader, value: &Value, path: &str) -> Option<Sample> {
    let map = r.mapping(value, path, &SAMPLE_KEYS)?;
    let request = r.required(map, path, "request")?;
    let request_path = join(path, "request");
    let request_map = match request {
        Value::Object(m) => m,
        other => {
            r.error(
                &request_path,
                format!(
                    "must be an inference request (a mapping with `inputs`), found {}",
                    type_name(other)
                ),
            );
            return None;
        }
    };
    match request_map.get("inputs") {
        Some(Value::Array(inputs)) if !inputs.is_empty() => {}
        _ => {
            r.error(
                &join(&request_path, "inputs"),
                "is required: a non-empty list of input tensors",
            );
            return None;
        }
    }
    let expected = match map.get("expected") {
        None | Some(Value::Null) => None,
        Some(value) => Some(read_expected(r, value, &join(path, "expected"))?),
    };
    Some(Sample {
        request: request.clone(),
        expected,
    })
}

fn read_expected(r: &mut Reader, value: &Value, path: &str) -> Option<Expected> {
    let map = r.mapping(value, path, &EXPECTED_KEYS)?;
    let tolerance = match map.get("tolerance") {
        None | Some(Value::Null) => 0.0,
        Some(value) => match value.as_f64() {
            Some(t) if t >= 0.0 && t.is_finite() => t,
            _ => {
                r.error(
                    &join(path, "tolerance"),
                    format!("must be a non-negative number, found {value}"),
                );
                return None;
            }
        },
    };
    let items = r.list(map, path, "outputs");
    let Some(items) = items.filter(|items| !items.is_empty()) else {
        r.error(
            &join(path, "outputs"),
            "is required: at least one expected output",
        );
        return None;
    };
    let mut outputs = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let path = format!("{path}.outputs[{i}]");
        let map = r.mapping(item, &path, &OUTPUT_KEYS)?;
        let name = r.optional_string(map, &path, "name");
        let datatype = r.optional_string(map, &path, "datatype");
        let shape = match map.get("shape") {
            None | Some(Value::Null) => None,
            Some(value) => Some(read_shape(r, value, &join(&path, "shape"))?),
        };
        let data = match r.required(map, &path, "data")? {
            Value::Array(_) => flatten(&map["data"]),
            scalar => vec![scalar.clone()],
        };
        if let Some(shape) = &shape
            && element_count(shape) != Some(data.len() as u64)
        {
            r.error(
                &join(&path, "data"),
                format!(
                    "holds {} values but shape {shape:?} needs {}",
                    data.len(),
                    element_count(shape).map_or("more than 2^64".into(), |n| n.to_string())
                ),
            );
            return None;
        }
        outputs.push(ExpectedOutput {
            name,
            shape,
            datatype,
            data,
        });
    }
    Some(Expected { outputs, tolerance })
}

fn read_shape(r: &mut Reader, value: &Value, path: &str) -> Option<Vec<u64>> {
    let dims: Option<Vec<u64>> = value
        .as_array()
        .and_then(|dims| dims.iter().map(Value::as_u64).collect());
    if dims.is_none() {
        r.error(
            path,
            format!("must be a list of non-negative integers, found {value}"),
        );
    }
    dims
}

/// Tensor data in row-major order: nested lists (allowed by the protocol's JSON form) flattened.
pub fn flatten(value: &Value) -> Vec<Value> {
    let mut out = Vec::new();
    fn walk(value: &Value, out: &mut Vec<Value>) {
        match value {
            Value::Array(items) => items.iter().for_each(|item| walk(item, out)),
            other => out.push(other.clone()),
        }
    }
    walk(value, &mut out);
    out
}

/// Elements of a tensor of this shape; `None` on overflow.
pub fn element_count(shape: &[u64]) -> Option<u64> {
    shape.iter().try_fold(1u64, |n, d| n.checked_mul(*d))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn validation(value: Value) -> Result<Vec<Sample>, String> {
        let mut diagnostics = Diagnostics::default();
        let mut r = Reader::new(Origin::new("ir/model.yaml", 2), &mut diagnostics);
        let samples = read_validation(&mut r, &value, "spec.validation");
        diagnostics.into_result(samples).map_err(|d| d.to_string())
    }

    #[test]
    fn a_sample_keeps_its_request_and_flattens_expected_data() {
        let samples = validation(json!({"requests": [{
            "request": {"inputs": [{"name": "x", "shape": [2, 2], "datatype": "FP64", "data": [[1, 2], [3, 4]]}]},
            "expected": {"outputs": [{"name": "predict", "shape": [2], "data": [[0], [1]]}], "tolerance": 0.5},
        }]}))
        .unwrap();
        assert_eq!(samples.len(), 1);
        assert_eq!(
            samples[0].request["inputs"][0]["data"],
            json!([[1, 2], [3, 4]])
        );
        let expected = samples[0].expected.as_ref().unwrap();
        assert_eq!(expected.tolerance, 0.5);
        assert_eq!(expected.outputs[0].name.as_deref(), Some("predict"));
        assert_eq!(expected.outputs[0].shape, Some(vec![2]));
        assert_eq!(expected.outputs[0].data, vec![json!(0), json!(1)]);
    }

    #[test]
    fn every_problem_names_file_document_and_field() {
        let err = validation(json!({"requests": [
            {"request": {"input": []}},
            {"request": {"inputs": [{}]}, "expected": {"outputs": [{"shape": [3], "data": [1, 2]}], "tolerance": -1}},
            {"request": {"inputs": [{}]}, "expected": {"outputs": [{"shape": [2], "data": [1, 2]}], "extra": 1}},
        ]}))
        .unwrap_err();
        for needle in [
            "ir/model.yaml",
            "spec.validation.requests[0].request.inputs: is required",
            "spec.validation.requests[1].expected.tolerance: must be a non-negative number",
            "spec.validation.requests[2].expected.extra: unknown field",
        ] {
            assert!(err.contains(needle), "{needle} missing in:\n{err}");
        }
        let err = validation(json!({"requests": [
            {"request": {"inputs": [{}]}, "expected": {"outputs": [{"shape": [3], "data": [1, 2]}]}},
        ]}))
        .unwrap_err();
        assert!(
            err.contains(
                "requests[0].expected.outputs[0].data: holds 2 values but shape [3] needs 3"
            ),
            "{err}"
        );
        assert!(
            validation(json!({"requests": []}))
                .unwrap_err()
                .contains("at least one")
        );
        assert!(
            validation(json!("x"))
                .unwrap_err()
                .contains("spec.validation: must be a mapping")
        );
    }

    #[test]
    fn a_requests_file_lists_models_with_optional_versions() {
        let text = "models:\n  - name: iris\n    requests:\n      - request: {inputs: [{name: x, shape: [1], datatype: FP32, data: [1]}]}\n  - name: iris\n    version: 2\n    requests:\n      - request: {inputs: [{name: x, shape: [1], datatype: FP32, data: [2]}]}\n";
        let entries = read_file("requests.yaml", text).unwrap();
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0].version, None);
        assert_eq!(entries[1].version.as_deref(), Some("2"));
        let err = read_file(
            "requests.yaml",
            "models:\n  - name: iris\n    requests: [{request: {inputs: [1]}}]\n  - name: iris\n    requests: [{request: {inputs: [1]}}]\n  - version: 1\n",
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("models[1].name: model `iris` is listed twice"),
            "{err}"
        );
        assert!(err.contains("models[2].name: is required"), "{err}");
        assert!(err.contains("models[2].requests: is required"), "{err}");
        let err = read_file("requests.yaml", "models: [\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("requests.yaml"), "{err}");
    }
}
