//! Global settings (docs/ir.md): trace, git server, image registry and pull secrets, default
//! resources. They come from the ConfigMap `modelops-globals` in the executor's namespace (the
//! platform's defaults, read by `install` only) and from `--globals FILE`, which overrides the
//! ConfigMap key by key; both land under `.global` in the values, where `-f` files and `--set`
//! still win over them.
//!
//! Pure: `cluster::globals_config_map` does the one GET; this module checks the ConfigMap's
//! layout, parses and checks each source, and merges them. Messages name the source, the field
//! and the type found, never a value: a platform may put things there that must not reach logs.

use crate::diagnostics::{Diagnostics, Origin, suggestion};
use crate::schema::{join, type_name};
use crate::values;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// The name of the ConfigMap with the platform's global settings.
pub const CONFIG_MAP: &str = "modelops-globals";
/// Its one data key: the same YAML mapping a `--globals FILE` holds.
pub const DATA_KEY: &str = "globals.yaml";

/// Keys of `global` that the executor owns; no source of globals may set them.
pub const RESERVED: [&str; 5] = ["jobId", "namespace", "pipeline", "mode", "labels"];

/// One source of global settings, already parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct Layer {
    /// Where it came from, for messages: a file name or `ConfigMap <ns>/modelops-globals, key …`.
    pub origin: Origin,
    pub value: Value,
}

/// What `install` read of the ConfigMap: only what its layout is about.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ConfigMapContent {
    pub namespace: String,
    pub data: BTreeMap<String, String>,
    /// Keys of `binaryData`, which is never read.
    pub binary_keys: Vec<String>,
}

impl ConfigMapContent {
    /// `ConfigMap <namespace>/modelops-globals`, as messages name it.
    pub fn describe(&self) -> String {
        format!("ConfigMap {}/{CONFIG_MAP}", self.namespace)
    }
}

impl Layer {
    /// A `--globals FILE`.
    pub fn file(name: &str, text: &str) -> Result<Layer, Diagnostics> {
        parse(Origin::new(name, 0), text)
    }

    /// The `modelops-globals` ConfigMap: exactly one data key, `globals.yaml`, holding a YAML
    /// mapping. Anything else there is a mistake worth stopping for (a misspelt key would
    /// otherwise silently drop the platform's settings).
    pub fn config_map(content: &ConfigMapContent) -> Result<Layer, Diagnostics> {
        let whole = Origin::new(content.describe(), 0);
        let mut diagnostics = Diagnostics::default();
        for key in content.data.keys().filter(|k| k.as_str() != DATA_KEY) {
            let hint = suggestion(key, [DATA_KEY]);
            diagnostics.push(
                &whole,
                format!("data.{key}"),
                format!("unknown key{hint}; the global settings are the YAML mapping under data key `{DATA_KEY}`, and nothing else may be there"),
            );
        }
        for key in &content.binary_keys {
            diagnostics.push(
                &whole,
                format!("binaryData.{key}"),
                format!("is not read; put the global settings as text under data key `{DATA_KEY}`"),
            );
        }
        let text = match content.data.get(DATA_KEY) {
            Some(text) => Some(text),
            None => {
                if content.data.is_empty() || diagnostics.is_empty() {
                    diagnostics.push(
                        &whole,
                        "data",
                        format!("has no key `{DATA_KEY}` (the YAML mapping of global settings)"),
                    );
                }
                None
            }
        };
        let origin = Origin::new(format!("{}, key {DATA_KEY}", content.describe()), 0);
        match text.map(|text| parse(origin, text)) {
            Some(Ok(layer)) if diagnostics.is_empty() => Ok(layer),
            Some(Err(more)) => {
                diagnostics.extend(more);
                Err(diagnostics.into_result(()).unwrap_err())
            }
            _ => Err(diagnostics.into_result(()).unwrap_err()),
        }
    }

    /// Top-level keys, for logs (never the values).
    pub fn keys(&self) -> Vec<&str> {
        match &self.value {
            Value::Object(map) => map.keys().map(String::as_str).collect(),
            _ => Vec::new(),
        }
    }
}

fn parse(origin: Origin, text: &str) -> Result<Layer, Diagnostics> {
    match crate::yaml::parse_one(text) {
        Ok(value) => Ok(Layer { origin, value }),
        Err(err) => {
            let mut diagnostics = Diagnostics::default();
            diagnostics.push(&origin, "", format!("invalid YAML: {err}"));
            Err(diagnostics)
        }
    }
}

/// Checks every layer and overlays them, lowest precedence first, into the mapping that becomes
/// `.global` (before the executor adds its own keys). A later layer wins key by key: mappings
/// merge, anything else (lists included) replaces, and `null` replaces too, so it also removes
/// the chart's default (Helm's rule for several `-f` files). Problems go to `diagnostics`.
pub fn merge(layers: &[Layer], diagnostics: &mut Diagnostics) -> Map<String, Value> {
    let mut merged = Value::Object(Map::new());
    for layer in layers {
        check(layer, diagnostics);
        if let Value::Object(map) = &layer.value {
            let allowed: Map<String, Value> = map
                .iter()
                .filter(|(key, _)| !RESERVED.contains(&key.as_str()))
                .map(|(key, value)| (key.clone(), value.clone()))
                .collect();
            values::overlay(&mut merged, &Value::Object(allowed));
        }
    }
    match merged {
        Value::Object(map) => map,
        _ => unreachable!("overlaying mappings on a mapping keeps a mapping"),
    }
}

/// The shape the charts rely on (charts/README.md, docs/ir.md): each documented key may be
/// absent or `null`; other keys are free for a platform's own charts.
fn check(layer: &Layer, diagnostics: &mut Diagnostics) {
    let mut problem =
        |field: &str, message: String| diagnostics.push(&layer.origin, field, message);
    let map = match &layer.value {
        Value::Null => return,
        Value::Object(map) => map,
        other => {
            problem("", format!("must be a mapping, found {}", type_name(other)));
            return;
        }
    };
    for key in map.keys().filter(|k| RESERVED.contains(&k.as_str())) {
        problem(
            key,
            "is set by the executor and may not come from globals".into(),
        );
    }
    type Check = fn(&Value) -> Option<&'static str>;
    let shapes: [(&str, &[(&str, Check)]); 4] = [
        (
            "trace",
            &[
                ("enabled", |v| (!v.is_boolean()).then_some("a boolean")),
                ("endpoint", |v| (!v.is_string()).then_some("a string")),
                ("samplingRatio", |v| (!v.is_number()).then_some("a number")),
            ],
        ),
        (
            "gitServer",
            &[
                ("url", |v| (!v.is_string()).then_some("a string")),
                ("configRepo", |v| (!v.is_string()).then_some("a string")),
            ],
        ),
        (
            "registry",
            &[
                ("host", |v| (!v.is_string()).then_some("a string")),
                ("imagePullSecrets", |v| {
                    (!v.is_array()).then_some("a list of Secret names")
                }),
            ],
        ),
        (
            "resources",
            &[
                ("scoringService", |v| {
                    (!v.is_object()).then_some("a mapping")
                }),
                ("scoringFlow", |v| (!v.is_object()).then_some("a mapping")),
            ],
        ),
    ];
    for (section, fields) in shapes {
        let Some(value) = map.get(section).filter(|v| !v.is_null()) else {
            continue;
        };
        let Value::Object(inner) = value else {
            problem(
                section,
                format!("must be a mapping, found {}", type_name(value)),
            );
            continue;
        };
        for (field, wrong) in fields {
            if let Some(value) = inner.get(*field).filter(|v| !v.is_null())
                && let Some(wanted) = wrong(value)
            {
                problem(
                    &join(section, field),
                    format!("must be {wanted}, found {}", type_name(value)),
                );
            }
        }
    }
    if let Some(Value::Array(secrets)) = map
        .get("registry")
        .and_then(|registry| registry.get("imagePullSecrets"))
    {
        for (i, secret) in secrets.iter().enumerate() {
            let named = match secret {
                Value::String(_) => true,
                Value::Object(entry) => entry.get("name").is_some_and(Value::is_string),
                _ => false,
            };
            if !named {
                problem(
                    &format!("registry.imagePullSecrets[{i}]"),
                    format!(
                        "must be a Secret name or `{{name: <Secret>}}`, found {}",
                        type_name(secret)
                    ),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn layer(origin: &str, value: Value) -> Layer {
        Layer {
            origin: Origin::new(origin, 0),
            value,
        }
    }

    fn content(data: &[(&str, &str)]) -> ConfigMapContent {
        ConfigMapContent {
            namespace: "platform".into(),
            data: data
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            binary_keys: Vec::new(),
        }
    }

    fn problems(result: Result<Layer, Diagnostics>) -> Vec<String> {
        result
            .unwrap_err()
            .0
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn a_file_overrides_the_config_map_key_by_key() {
        let config_map = layer(
            "cm",
            json!({
                "registry": {"host": "cm.example.com", "imagePullSecrets": ["cm-pull"]},
                "gitServer": {"url": "https://git.cm", "configRepo": "cm-repo"},
                "trace": {"enabled": true, "endpoint": "http://otel.cm:4317"},
                "platformOnly": {"x": 1},
            }),
        );
        let file = layer(
            "globals.yaml",
            json!({
                "registry": {"host": "file.example.com"},
                "gitServer": {"url": "https://git.file"},
                "trace": {"endpoint": null},
                "resources": {"scoringFlow": {"requests": {"cpu": "1"}}},
            }),
        );
        let mut diagnostics = Diagnostics::default();
        let merged = merge(&[config_map, file], &mut diagnostics);
        assert!(diagnostics.is_empty(), "{diagnostics}");
        assert_eq!(
            Value::Object(merged),
            json!({
                // The file's host wins; the ConfigMap's pull secrets stay.
                "registry": {"host": "file.example.com", "imagePullSecrets": ["cm-pull"]},
                "gitServer": {"url": "https://git.file", "configRepo": "cm-repo"},
                // A null in the file stays null, so it also removes the chart's default.
                "trace": {"enabled": true, "endpoint": null},
                "platformOnly": {"x": 1},
                "resources": {"scoringFlow": {"requests": {"cpu": "1"}}},
            })
        );
    }

    #[test]
    fn lists_from_a_later_layer_replace() {
        let mut diagnostics = Diagnostics::default();
        let merged = merge(
            &[
                layer("cm", json!({"registry": {"imagePullSecrets": ["a", "b"]}})),
                layer("file", json!({"registry": {"imagePullSecrets": ["c"]}})),
            ],
            &mut diagnostics,
        );
        assert_eq!(merged["registry"]["imagePullSecrets"], json!(["c"]));
    }

    #[test]
    fn no_layers_or_empty_layers_give_an_empty_mapping() {
        let mut diagnostics = Diagnostics::default();
        assert!(merge(&[], &mut diagnostics).is_empty());
        assert!(merge(&[layer("cm", Value::Null)], &mut diagnostics).is_empty());
        assert!(diagnostics.is_empty());
    }

    #[test]
    fn every_layer_is_checked_under_its_own_name() {
        let mut diagnostics = Diagnostics::default();
        let merged = merge(
            &[
                layer(
                    "ConfigMap platform/modelops-globals, key globals.yaml",
                    json!({"jobId": "x", "registry": {"imagePullSecrets": "pull"}, "trace": true}),
                ),
                layer(
                    "globals.yaml",
                    json!({"gitServer": {"url": 3}, "registry": {"imagePullSecrets": ["ok", {"name": "ok"}, {"nme": "x"}, 4]}, "resources": {"scoringService": "big"}}),
                ),
                layer("other.yaml", json!(["not", "a", "mapping"])),
            ],
            &mut diagnostics,
        );
        let text: Vec<String> = diagnostics
            .into_result(())
            .unwrap_err()
            .0
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            text,
            [
                "ConfigMap platform/modelops-globals, key globals.yaml: jobId: is set by the executor and may not come from globals",
                "ConfigMap platform/modelops-globals, key globals.yaml: registry.imagePullSecrets: must be a list of Secret names, found a string",
                "ConfigMap platform/modelops-globals, key globals.yaml: trace: must be a mapping, found a boolean",
                "globals.yaml: gitServer.url: must be a string, found a number",
                "globals.yaml: registry.imagePullSecrets[2]: must be a Secret name or `{name: <Secret>}`, found a mapping",
                "globals.yaml: registry.imagePullSecrets[3]: must be a Secret name or `{name: <Secret>}`, found a number",
                "globals.yaml: resources.scoringService: must be a mapping, found a string",
                "other.yaml: must be a mapping, found a list",
            ]
        );
        // The reserved key is never merged.
        assert!(!merged.contains_key("jobId"));
    }

    #[test]
    fn messages_never_contain_values() {
        let mut diagnostics = Diagnostics::default();
        merge(
            &[layer(
                "cm",
                json!({"gitServer": {"url": ["s3cr3t-token"]}, "registry": {"host": {"password": "hunter2"}}}),
            )],
            &mut diagnostics,
        );
        let text = diagnostics.to_string();
        assert!(
            text.contains("gitServer.url: must be a string, found a list"),
            "{text}"
        );
        assert!(
            !text.contains("s3cr3t") && !text.contains("hunter2"),
            "{text}"
        );
    }

    #[test]
    fn config_map_layout() {
        let layer = Layer::config_map(&content(&[(
            "globals.yaml",
            "registry:\n  host: r.example.com\n",
        )]))
        .unwrap();
        assert_eq!(
            layer.origin.to_string(),
            "ConfigMap platform/modelops-globals, key globals.yaml"
        );
        assert_eq!(layer.value, json!({"registry": {"host": "r.example.com"}}));
        assert_eq!(layer.keys(), ["registry"]);
        // An empty document is an empty set of settings.
        let empty = Layer::config_map(&content(&[("globals.yaml", "# nothing yet\n")])).unwrap();
        assert_eq!(empty.value, Value::Null);
    }

    #[test]
    fn config_map_layout_errors_name_the_config_map_and_key() {
        assert_eq!(
            problems(Layer::config_map(&content(&[]))),
            [
                "ConfigMap platform/modelops-globals: data: has no key `globals.yaml` (the YAML mapping of global settings)"
            ]
        );
        assert_eq!(
            problems(Layer::config_map(&content(&[("globals.yml", "a: 1")]))),
            [
                "ConfigMap platform/modelops-globals: data.globals.yml: unknown key (did you mean `globals.yaml`?); the global settings are the YAML mapping under data key `globals.yaml`, and nothing else may be there"
            ]
        );
        let mut both = content(&[("globals.yaml", "a: 1"), ("notes", "x")]);
        both.binary_keys.push("logo.png".into());
        assert_eq!(
            problems(Layer::config_map(&both)),
            [
                "ConfigMap platform/modelops-globals: binaryData.logo.png: is not read; put the global settings as text under data key `globals.yaml`",
                "ConfigMap platform/modelops-globals: data.notes: unknown key; the global settings are the YAML mapping under data key `globals.yaml`, and nothing else may be there",
            ]
        );
    }

    #[test]
    fn invalid_yaml_names_the_config_map_key_and_position_but_not_the_text() {
        let text = "registry:\n  host: r.example.com\n token: s3cr3t: value\n";
        let found = problems(Layer::config_map(&content(&[("globals.yaml", text)])));
        assert_eq!(
            found,
            [
                "ConfigMap platform/modelops-globals, key globals.yaml: invalid YAML: line 3, column 2: did not find expected key"
            ]
        );
        assert!(!found[0].contains("s3cr3t"));
        let file = problems(Layer::file("g.yaml", "a: [1\n"));
        assert_eq!(file.len(), 1);
        assert!(file[0].starts_with("g.yaml: invalid YAML: "), "{file:?}");
    }
}
