//! Judging the model servers' answers (pure): health and readiness answers, inference answers
//! against their request and the expected outputs, and the verdict text.

use super::samples::{Expected, Sample, element_count, flatten};
use serde_json::Value;

/// One HTTP answer of a model server (through the API server's service proxy).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    pub body: String,
}

/// What an answer means for the check that asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Judgement {
    Pass,
    /// Not (yet) what was asked for, maybe later: asked again until the deadline.
    NotYet(String),
    /// A wrong answer from a server that answered: asking again would give the same.
    Fail(String),
}

/// How much of a server's answer goes into a reason: enough to recognise it, never a whole page.
const BODY_EXCERPT_CHARS: usize = 160;

/// `GET <path>` of a health or readiness endpoint: 200 is ready; anything else is not yet.
pub fn judge_ready(path: &str, answer: &Answer) -> Judgement {
    if answer.status == 200 {
        Judgement::Pass
    } else {
        Judgement::NotYet(format!("GET {path} answered {}", describe(answer)))
    }
}

/// `POST /v2/models/{name}[/versions/{v}]/infer` with `sample.request`.
///
/// 5xx (a model still loading, the proxy's 503 while no endpoint is ready) is asked again; any
/// other non-200, and a 200 whose outputs are malformed or differ from the expected ones, fails.
pub fn judge_inference(index: usize, sample: &Sample, answer: &Answer) -> Judgement {
    let what = format!("request {}", index + 1);
    if answer.status >= 500 {
        return Judgement::NotYet(format!("{what}: answered {}", describe(answer)));
    }
    if answer.status != 200 {
        return Judgement::Fail(format!("{what}: answered {}", describe(answer)));
    }
    match check_outputs(&answer.body, sample.expected.as_ref()) {
        Ok(()) => Judgement::Pass,
        Err(reason) => Judgement::Fail(format!("{what}: {reason}")),
    }
}

/// An answer's `outputs`: each tensor well formed (name, datatype, shape, as many values as its
/// shape needs); then, when expected outputs are given, each present with its shape, datatype and
/// values (numbers within the tolerance).
fn check_outputs(body: &str, expected: Option<&Expected>) -> Result<(), String> {
    let answer: Value = serde_json::from_str(body)
        .map_err(|e| format!("the answer is not JSON ({e}): {}", excerpt(body)))?;
    let outputs = answer
        .get("outputs")
        .and_then(Value::as_array)
        .filter(|o| !o.is_empty())
        .ok_or_else(|| format!("the answer has no `outputs`: {}", excerpt(body)))?;
    let mut tensors = Vec::with_capacity(outputs.len());
    for (i, output) in outputs.iter().enumerate() {
        tensors.push(Tensor::read(output).map_err(|reason| format!("outputs[{i}]: {reason}"))?);
    }
    let Some(expected) = expected else {
        return Ok(());
    };
    for (i, want) in expected.outputs.iter().enumerate() {
        let got = match &want.name {
            Some(name) => tensors.iter().find(|t| &t.name == name).ok_or_else(|| {
                let names: Vec<&str> = tensors.iter().map(|t| t.name.as_str()).collect();
                format!(
                    "no output `{name}` in the answer (it has {})",
                    names.join(", ")
                )
            })?,
            None => tensors.get(i).ok_or_else(|| {
                format!(
                    "expected output {} but the answer has {}",
                    i + 1,
                    tensors.len()
                )
            })?,
        };
        if let Some(shape) = &want.shape
            && shape != &got.shape
        {
            return Err(format!(
                "output `{}` has shape {:?}, expected {shape:?}",
                got.name, got.shape
            ));
        }
        if let Some(datatype) = &want.datatype
            && datatype != &got.datatype
        {
            return Err(format!(
                "output `{}` has datatype {}, expected {datatype}",
                got.name, got.datatype
            ));
        }
        if want.data.len() != got.data.len() {
            return Err(format!(
                "output `{}` has {} values, expected {}",
                got.name,
                got.data.len(),
                want.data.len()
            ));
        }
        for (j, (g, w)) in got.data.iter().zip(&want.data).enumerate() {
            if !same_value(g, w, expected.tolerance) {
                return Err(format!(
                    "output `{}` value {j} is {g}, expected {w} (tolerance {})",
                    got.name, expected.tolerance
                ));
            }
        }
    }
    Ok(())
}

/// A response tensor of the protocol's JSON form.
struct Tensor {
    name: String,
    datatype: String,
    shape: Vec<u64>,
    data: Vec<Value>,
}

impl Tensor {
    fn read(value: &Value) -> Result<Tensor, String> {
        let field = |key: &str| value.get(key).ok_or_else(|| format!("no `{key}`"));
        let name = field("name")?
            .as_str()
            .ok_or("`name` is not a string")?
            .to_string();
        let datatype = field("datatype")?
            .as_str()
            .ok_or_else(|| format!("`{name}`: `datatype` is not a string"))?
            .to_string();
        let shape: Vec<u64> = field("shape")?
            .as_array()
            .and_then(|dims| dims.iter().map(Value::as_u64).collect())
            .ok_or_else(|| format!("`{name}`: `shape` is not a list of non-negative integers"))?;
        let data = flatten(field("data")?);
        if element_count(&shape) != Some(data.len() as u64) {
            return Err(format!(
                "`{name}` has {} values but its shape {shape:?} needs {}",
                data.len(),
                element_count(&shape).map_or("more than 2^64".into(), |n| n.to_string())
            ));
        }
        Ok(Tensor {
            name,
            datatype,
            shape,
            data,
        })
    }
}

/// Numbers within the tolerance (1 and 1.0 are the same number); anything else exactly equal.
fn same_value(got: &Value, want: &Value, tolerance: f64) -> bool {
    match (got.as_f64(), want.as_f64()) {
        (Some(g), Some(w)) => (g - w).abs() <= tolerance,
        _ => got == want,
    }
}

/// `503 Service Unavailable: <start of the body>`.
pub fn describe(answer: &Answer) -> String {
    let reason = http::StatusCode::from_u16(answer.status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("");
    let body = excerpt(&answer.body);
    match (reason.is_empty(), body.is_empty()) {
        (true, true) => answer.status.to_string(),
        (true, false) => format!("{}: {body}", answer.status),
        (false, true) => format!("{} {reason}", answer.status),
        (false, false) => format!("{} {reason}: {body}", answer.status),
    }
}

/// The start of a body on one line, cut at a character boundary.
fn excerpt(body: &str) -> String {
    let line: String = body.split_whitespace().collect::<Vec<_>>().join(" ");
    match line.char_indices().nth(BODY_EXCERPT_CHARS) {
        Some((end, _)) => format!("{}…", &line[..end]),
        None => line,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validate::samples::ExpectedOutput;
    use serde_json::json;

    fn answer(status: u16, body: Value) -> Answer {
        Answer {
            status,
            body: body.to_string(),
        }
    }

    fn sample(expected: Option<Expected>) -> Sample {
        Sample {
            request: json!({"inputs": [{"name": "x", "shape": [2, 4], "datatype": "FP64", "data": [0, 0, 0, 0, 0, 0, 0, 0]}]}),
            expected,
        }
    }

    fn expect(
        name: Option<&str>,
        shape: Option<Vec<u64>>,
        data: Vec<Value>,
        tolerance: f64,
    ) -> Expected {
        Expected {
            outputs: vec![ExpectedOutput {
                name: name.map(str::to_string),
                shape,
                datatype: None,
                data,
            }],
            tolerance,
        }
    }

    /// MLServer's answer for a scikit-learn classifier of two rows.
    fn mlserver_answer(data: Value) -> Answer {
        answer(
            200,
            json!({"model_name": "iris", "model_version": "1", "id": "a", "parameters": {},
                   "outputs": [{"name": "predict", "shape": [2, 1], "datatype": "INT64", "parameters": {"content_type": "np"}, "data": data}]}),
        )
    }

    #[test]
    fn readiness_is_200_and_anything_else_says_what_was_answered() {
        assert_eq!(
            judge_ready("/v2/health/ready", &answer(200, json!({}))),
            Judgement::Pass
        );
        let not_yet = judge_ready(
            "/v2/models/iris/versions/1/ready",
            &Answer {
                status: 404,
                body: "{\"error\":\"Model iris with version 1 not found\"}".into(),
            },
        );
        assert_eq!(
            not_yet,
            Judgement::NotYet(
                "GET /v2/models/iris/versions/1/ready answered 404 Not Found: {\"error\":\"Model iris with version 1 not found\"}"
                    .into()
            )
        );
    }

    #[test]
    fn a_well_formed_answer_passes_without_expectations() {
        assert_eq!(
            judge_inference(0, &sample(None), &mlserver_answer(json!([0, 1]))),
            Judgement::Pass
        );
        // Nested data is the protocol's JSON form too.
        assert_eq!(
            judge_inference(0, &sample(None), &mlserver_answer(json!([[0], [1]]))),
            Judgement::Pass
        );
    }

    #[test]
    fn expected_outputs_are_compared_by_name_or_position_with_tolerance() {
        let by_name = expect(
            Some("predict"),
            Some(vec![2, 1]),
            vec![json!(0), json!(1)],
            0.0,
        );
        assert_eq!(
            judge_inference(0, &sample(Some(by_name)), &mlserver_answer(json!([0, 1]))),
            Judgement::Pass
        );
        let by_position = expect(None, None, vec![json!(0.0), json!(1.0)], 0.0);
        assert_eq!(
            judge_inference(
                0,
                &sample(Some(by_position)),
                &mlserver_answer(json!([0, 1]))
            ),
            Judgement::Pass,
            "1 and 1.0 are the same number"
        );
        let close = expect(None, None, vec![json!(0.05), json!(0.95)], 0.1);
        assert_eq!(
            judge_inference(0, &sample(Some(close)), &mlserver_answer(json!([0, 1]))),
            Judgement::Pass
        );
        let far = expect(None, None, vec![json!(0), json!(0)], 0.5);
        assert_eq!(
            judge_inference(2, &sample(Some(far)), &mlserver_answer(json!([0, 1]))),
            Judgement::Fail(
                "request 3: output `predict` value 1 is 1, expected 0 (tolerance 0.5)".into()
            )
        );
        let strings = expect(None, None, vec![json!("setosa"), json!("virginica")], 1.0);
        assert_eq!(
            judge_inference(0, &sample(Some(strings)), &mlserver_answer(json!(["setosa", "versicolor"]))),
            Judgement::Fail("request 1: output `predict` value 1 is \"versicolor\", expected \"virginica\" (tolerance 1)".into())
        );
    }

    #[test]
    fn malformed_or_mismatched_answers_fail_naming_what_is_wrong() {
        let cases = [
            (
                mlserver_answer(json!([0])),
                None,
                "`predict` has 1 values but its shape [2, 1] needs 2",
            ),
            (
                answer(200, json!({"outputs": []})),
                None,
                "the answer has no `outputs`",
            ),
            (
                Answer {
                    status: 200,
                    body: "<html>".into(),
                },
                None,
                "the answer is not JSON",
            ),
            (
                answer(
                    200,
                    json!({"outputs": [{"name": "p", "shape": [1], "data": [1]}]}),
                ),
                None,
                "outputs[0]: no `datatype`",
            ),
            (
                mlserver_answer(json!([0, 1])),
                Some(expect(Some("proba"), None, vec![json!(0), json!(1)], 0.0)),
                "no output `proba` in the answer (it has predict)",
            ),
            (
                mlserver_answer(json!([0, 1])),
                Some(expect(
                    Some("predict"),
                    Some(vec![2]),
                    vec![json!(0), json!(1)],
                    0.0,
                )),
                "output `predict` has shape [2, 1], expected [2]",
            ),
            (
                mlserver_answer(json!([0, 1])),
                Some(expect(None, None, vec![json!(0)], 0.0)),
                "output `predict` has 2 values, expected 1",
            ),
        ];
        for (answer, expected, needle) in cases {
            match judge_inference(0, &sample(expected), &answer) {
                Judgement::Fail(reason) => {
                    assert!(reason.contains(needle), "{needle} not in {reason}")
                }
                other => panic!("{needle}: {other:?}"),
            }
        }
    }

    #[test]
    fn server_errors_are_asked_again_client_errors_are_final() {
        let loading = Answer {
            status: 503,
            body: "no endpoints available for service \"iris\"".into(),
        };
        assert!(
            matches!(judge_inference(0, &sample(None), &loading), Judgement::NotYet(r) if r.contains("503 Service Unavailable: no endpoints"))
        );
        let bad = answer(400, json!({"error": "shape mismatch"}));
        assert_eq!(
            judge_inference(0, &sample(None), &bad),
            Judgement::Fail(
                "request 1: answered 400 Bad Request: {\"error\":\"shape mismatch\"}".into()
            )
        );
    }

    #[test]
    fn a_long_body_is_cut_to_one_line() {
        let long = Answer {
            status: 500,
            body: format!("line\n{}", "é".repeat(1000)),
        };
        let text = describe(&long);
        assert!(
            text.starts_with("500 Internal Server Error: line é"),
            "{text}"
        );
        assert!(text.chars().count() < 220, "{}", text.len());
        assert!(!text.contains('\n'));
    }
}
