//! Reading a YAML tree against an expected shape while collecting every problem with its field
//! path. Typed serde deserialisation stops at the first error; users want all of them at once.

use crate::diagnostics::{Diagnostics, Origin, suggestion};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

pub struct Reader<'d> {
    pub origin: Origin,
    pub diagnostics: &'d mut Diagnostics,
}

pub fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

pub fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

impl<'d> Reader<'d> {
    pub fn new(origin: Origin, diagnostics: &'d mut Diagnostics) -> Self {
        Reader {
            origin,
            diagnostics,
        }
    }

    pub fn error(&mut self, field: &str, message: impl Into<String>) {
        self.diagnostics.push(&self.origin, field, message);
    }

    /// A mapping with only `allowed` keys; unknown keys are reported with a suggestion.
    pub fn mapping<'v>(
        &mut self,
        value: &'v Value,
        path: &str,
        allowed: &[&str],
    ) -> Option<&'v Map<String, Value>> {
        let Value::Object(map) = value else {
            self.error(
                path,
                format!("must be a mapping, found {}", type_name(value)),
            );
            return None;
        };
        for key in map.keys() {
            if !allowed.contains(&key.as_str()) {
                let hint = suggestion(key, allowed.iter().copied());
                self.error(
                    &join(path, key),
                    format!("unknown field{hint}; allowed: {}", allowed.join(", ")),
                );
            }
        }
        Some(map)
    }

    pub fn required<'v>(
        &mut self,
        map: &'v Map<String, Value>,
        path: &str,
        key: &str,
    ) -> Option<&'v Value> {
        match map.get(key) {
            Some(Value::Null) | None => {
                self.error(&join(path, key), "is required");
                None
            }
            Some(value) => Some(value),
        }
    }

    pub fn required_mapping<'v>(
        &mut self,
        map: &'v Map<String, Value>,
        path: &str,
        key: &str,
        allowed: &[&str],
    ) -> Option<&'v Map<String, Value>> {
        let value = self.required(map, path, key)?;
        self.mapping(value, &join(path, key), allowed)
    }

    /// A scalar as text; numbers and booleans are accepted because YAML users rarely quote them.
    pub fn scalar(&mut self, value: &Value, path: &str) -> Option<String> {
        match value {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            other => {
                self.error(
                    path,
                    format!("must be a string, found {}", type_name(other)),
                );
                None
            }
        }
    }

    pub fn required_string(
        &mut self,
        map: &Map<String, Value>,
        path: &str,
        key: &str,
    ) -> Option<String> {
        let value = self.required(map, path, key)?;
        let text = self.scalar(value, &join(path, key))?;
        if text.trim().is_empty() {
            self.error(&join(path, key), "must not be empty");
            return None;
        }
        Some(text)
    }

    pub fn optional_string(
        &mut self,
        map: &Map<String, Value>,
        path: &str,
        key: &str,
    ) -> Option<String> {
        match map.get(key) {
            None | Some(Value::Null) => None,
            Some(value) => self.scalar(value, &join(path, key)),
        }
    }

    /// A string → string mapping (parameters, labels).
    pub fn string_map(
        &mut self,
        map: &Map<String, Value>,
        path: &str,
        key: &str,
    ) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        let path = join(path, key);
        match map.get(key) {
            None | Some(Value::Null) => {}
            Some(Value::Object(entries)) => {
                for (name, value) in entries {
                    if let Some(text) = self.scalar(value, &join(&path, name)) {
                        out.insert(name.clone(), text);
                    }
                }
            }
            Some(other) => self.error(
                &path,
                format!("must be a mapping of strings, found {}", type_name(other)),
            ),
        }
        out
    }

    pub fn list<'v>(
        &mut self,
        map: &'v Map<String, Value>,
        path: &str,
        key: &str,
    ) -> Option<&'v Vec<Value>> {
        match map.get(key) {
            None | Some(Value::Null) => None,
            Some(Value::Array(items)) => Some(items),
            Some(other) => {
                self.error(
                    &join(path, key),
                    format!("must be a list, found {}", type_name(other)),
                );
                None
            }
        }
    }

    pub fn optional_u32(&mut self, map: &Map<String, Value>, path: &str, key: &str) -> Option<u32> {
        let value = map.get(key)?;
        match value.as_u64().and_then(|n| u32::try_from(n).ok()) {
            Some(n) => Some(n),
            None if value.is_null() => None,
            None => {
                self.error(
                    &join(path, key),
                    format!("must be a non-negative integer, found {value}"),
                );
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reports_unknown_and_missing_fields_together() {
        let mut diagnostics = Diagnostics::default();
        let mut reader = Reader::new(Origin::new("a.yaml", 1), &mut diagnostics);
        let value = json!({"replcas": 2, "name": 3});
        let map = reader
            .mapping(&value, "spec", &["replicas", "name", "steps"])
            .unwrap();
        assert_eq!(
            reader.required_string(map, "spec", "name").as_deref(),
            Some("3")
        );
        assert!(reader.required(map, "spec", "steps").is_none());
        let text = diagnostics.to_string();
        assert!(
            text.contains("spec.replcas: unknown field (did you mean `replicas`?)"),
            "{text}"
        );
        assert!(text.contains("spec.steps: is required"), "{text}");
    }
}
