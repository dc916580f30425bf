//! Reading `status.conditions`, shared by the rules of every kind.

use serde_json::Value;

/// The condition of `type` in `status.conditions`.
pub(crate) fn condition<'v>(object: &'v Value, kind: &str) -> Option<&'v Value> {
    object
        .pointer("/status/conditions")?
        .as_array()?
        .iter()
        .find(|c| c.get("type").and_then(Value::as_str) == Some(kind))
}

/// A condition's reason and message, as one text.
pub(crate) fn condition_message(condition: &Value) -> String {
    let reason = condition
        .get("reason")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let message = condition
        .get("message")
        .and_then(Value::as_str)
        .unwrap_or_default();
    match (reason.is_empty(), message.is_empty()) {
        (false, false) => format!("{reason}: {message}"),
        (false, true) => reason.to_string(),
        (true, false) => message.to_string(),
        (true, true) => "no reason given".to_string(),
    }
}
