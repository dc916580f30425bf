//! The data channel registry (docs/ir.md): ConfigMaps labelled `modelops.io/data-channel: <name>`.
//! The same parser serves the offline form (`--channels PATH`) and the in-cluster lookup.

use crate::archive::Files;
use crate::diagnostics::{Diagnostics, Origin, suggestion};
use crate::ir::ChannelRef;
use crate::schema::Reader;
use crate::yaml;
use serde::Serialize;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

pub const CHANNEL_LABEL: &str = "modelops.io/data-channel";

const TYPES: [(&str, &[&str]); 5] = [
    ("kafka", &["brokers", "topic"]),
    ("file", &["path"]),
    ("jdbc", &["url", "table"]),
    ("http", &["url"]),
    ("test", &[]),
];

/// Registry entries are plain ConfigMaps, so a credential there would be readable by anyone who
/// can list ConfigMaps and would be copied into the job's values: refuse it, point to a Secret.
const CREDENTIAL_MARKERS: [&str; 11] = [
    "password",
    "passwd",
    "secret",
    "token",
    "credential",
    "apikey",
    "api-key",
    "api_key",
    "jaas",
    "privatekey",
    "private-key",
];

/// Keys that name a Secret (a reference, not a credential).
fn names_a_secret(lower_key: &str) -> bool {
    lower_key == "credentialssecret"
        || lower_key.ends_with("secretname")
        || lower_key.ends_with("secretref")
}

/// Whether a value carries a credential whatever its key: a password in a URL's user info or
/// query (`jdbc:postgresql://h/db?password=…`, `https://user:pw@host`) or in a JAAS config.
fn holds_credential(value: &str) -> bool {
    let lower = value.to_ascii_lowercase();
    let in_query_or_jaas = [
        "password=",
        "passwd=",
        "pwd=",
        "secret=",
        "token=",
        "apikey=",
    ]
    .iter()
    .any(|marker| lower.contains(marker));
    let in_user_info = lower.split("://").skip(1).any(|rest| {
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        authority
            .rsplit_once('@')
            .is_some_and(|(user_info, _)| user_info.contains(':'))
    });
    in_query_or_jaas || in_user_info
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ChannelKind {
    Source,
    Sink,
}

impl ChannelKind {
    fn name(self) -> &'static str {
        match self {
            ChannelKind::Source => "source",
            ChannelKind::Sink => "sink",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Channel {
    #[serde(skip)]
    pub origin: Origin,
    pub name: String,
    pub kind: ChannelKind,
    #[serde(rename = "type")]
    pub channel_type: String,
    pub format: String,
    /// The type-specific keys (`brokers`, `topic`, `path`, `url`, …).
    pub config: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default)]
pub struct Registry {
    channels: BTreeMap<String, Channel>,
}

impl Registry {
    /// Reads every ConfigMap document of the files (a directory or a single file); documents
    /// without the channel label are ignored, so a plain `kubectl get cm -o yaml` dump works.
    pub fn from_files(files: &Files, diagnostics: &mut Diagnostics) -> Registry {
        let mut registry = Registry::default();
        for file in &files.files {
            let origin = Origin::new(file.path.clone(), 0);
            let text = match std::str::from_utf8(&file.bytes) {
                Ok(text) => text,
                Err(_) => {
                    diagnostics.push(&origin, "", "is not valid UTF-8");
                    continue;
                }
            };
            match yaml::parse_documents_as(text, yaml::Scalars::Exact) {
                Ok(documents) => {
                    for document in documents {
                        for (i, item) in list_items(&document.value).into_iter().enumerate() {
                            let mut origin = Origin::new(file.path.clone(), document.index);
                            if document.value.get("kind").and_then(Value::as_str) == Some("List") {
                                origin.object = Some(format!("items[{i}]"));
                            }
                            registry.add_config_map(origin, item, diagnostics);
                        }
                    }
                }
                Err(err) => diagnostics.push(&origin, "", format!("invalid YAML: {err}")),
            }
        }
        registry
    }

    /// Adds one ConfigMap (from a file or from the cluster) if it carries the channel label.
    pub fn add_config_map(
        &mut self,
        origin: Origin,
        config_map: &Value,
        diagnostics: &mut Diagnostics,
    ) {
        let Some(name) = config_map
            .pointer("/metadata/labels")
            .and_then(|l| l.get(CHANNEL_LABEL))
            .and_then(Value::as_str)
        else {
            return;
        };
        let config_map_name = config_map
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("?");
        let origin = Origin {
            object: Some(format!("ConfigMap/{config_map_name}")),
            ..origin
        };
        let mut reader = Reader::new(origin.clone(), diagnostics);
        let Some(channel) = read_channel(&mut reader, name, config_map) else {
            return;
        };
        if let Some(first) = self.channels.get(name) {
            let message = format!(
                "data channel `{name}` is registered twice (first in {})",
                first.origin
            );
            diagnostics.push(&origin, format!("metadata.labels.{CHANNEL_LABEL}"), message);
        } else {
            self.channels.insert(name.to_string(), channel);
        }
    }

    pub fn len(&self) -> usize {
        self.channels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.channels.is_empty()
    }

    /// Resolves a flow's source or sink, or says what was asked for and what exists.
    pub fn resolve(&self, wanted: &ChannelRef, kind: ChannelKind) -> Result<&Channel, String> {
        let Some(channel) = self.channels.get(&wanted.channel) else {
            let hint = suggestion(&wanted.channel, self.channels.keys().map(String::as_str));
            let registered = if self.channels.is_empty() {
                "none are registered".to_string()
            } else {
                format!(
                    "registered: {}",
                    self.channels
                        .values()
                        .map(describe)
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            };
            return Err(format!(
                "no data channel `{}` is registered{hint}; {registered}",
                wanted.channel
            ));
        };
        if channel.kind != kind {
            return Err(format!(
                "data channel `{}` is a {} ({}), but this flow uses it as a {}",
                channel.name,
                channel.kind.name(),
                channel.origin,
                kind.name()
            ));
        }
        if channel.format != wanted.format {
            return Err(format!(
                "data channel `{}` carries format `{}`, but this flow expects `{}`",
                channel.name, channel.format, wanted.format
            ));
        }
        Ok(channel)
    }
}

fn describe(channel: &Channel) -> String {
    format!(
        "{} ({} {}, format {})",
        channel.name,
        channel.channel_type,
        channel.kind.name(),
        channel.format
    )
}

fn list_items(value: &Value) -> Vec<&Value> {
    match (
        value.get("kind").and_then(Value::as_str),
        value.get("items").and_then(Value::as_array),
    ) {
        (Some("List" | "ConfigMapList"), Some(items)) => items.iter().collect(),
        _ => vec![value],
    }
}

fn read_channel(r: &mut Reader, name: &str, config_map: &Value) -> Option<Channel> {
    if config_map.get("kind").and_then(Value::as_str) != Some("ConfigMap") {
        r.error(
            "kind",
            format!("a data channel registration must be a ConfigMap (channel `{name}`)"),
        );
        return None;
    }
    let empty = Map::new();
    let data = match config_map.get("data") {
        Some(Value::Object(data)) => data,
        None | Some(Value::Null) => &empty,
        Some(_) => {
            r.error("data", "must be a mapping of strings");
            return None;
        }
    };
    let kind = match r.required_string(data, "data", "kind").as_deref() {
        Some("source") => Some(ChannelKind::Source),
        Some("sink") => Some(ChannelKind::Sink),
        Some(other) => {
            r.error(
                "data.kind",
                format!("`{other}` is neither `source` nor `sink`"),
            );
            None
        }
        None => None,
    };
    let format = r.required_string(data, "data", "format");
    let channel_type = r.required_string(data, "data", "type");
    let mut config = BTreeMap::new();
    for (key, value) in data {
        if matches!(key.as_str(), "kind" | "format" | "type") {
            continue;
        }
        let lower = key.to_ascii_lowercase();
        let credential_key = CREDENTIAL_MARKERS
            .iter()
            .any(|marker| lower.contains(marker))
            && !names_a_secret(&lower);
        // The value is never repeated: it is the secret.
        if credential_key || value.as_str().is_some_and(holds_credential) {
            r.error(
                &format!("data.{key}"),
                "looks like a credential; registry ConfigMaps are readable by many and the executor copies channel settings into ConfigMaps, so reference a Secret instead (e.g. `credentialsSecret: <name>`)",
            );
            continue;
        }
        if let Some(text) = r.scalar(value, &format!("data.{key}")) {
            config.insert(key.clone(), text);
        }
    }
    if let Some(channel_type) = &channel_type {
        match TYPES.iter().find(|(t, _)| t == channel_type) {
            None => {
                let names = TYPES.map(|(t, _)| t);
                let hint = suggestion(channel_type, names);
                r.error(
                    "data.type",
                    format!(
                        "unknown channel type `{channel_type}`{hint}; supported: {}",
                        names.join(", ")
                    ),
                );
            }
            Some((_, required)) => {
                for key in required.iter().filter(|key| !config.contains_key(**key)) {
                    r.error(
                        &format!("data.{key}"),
                        format!("is required for a {channel_type} channel"),
                    );
                }
            }
        }
    }
    Some(Channel {
        origin: r.origin.clone(),
        name: name.to_string(),
        kind: kind?,
        channel_type: channel_type?,
        format: format?,
        config,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registry(text: &str) -> (Registry, Diagnostics) {
        let files = Files::from_texts("channels", &[("c.yaml", text)]);
        let mut diagnostics = Diagnostics::default();
        (Registry::from_files(&files, &mut diagnostics), diagnostics)
    }

    const KAFKA: &str = "kind: ConfigMap\nmetadata: {name: txn, labels: {modelops.io/data-channel: transactions}}\ndata: {kind: source, type: kafka, format: txn-v1, brokers: 'k:9092', topic: txn}\n";

    #[test]
    fn resolves_a_matching_channel() {
        let (registry, diagnostics) = registry(KAFKA);
        assert!(diagnostics.is_empty(), "{diagnostics}");
        let wanted = ChannelRef {
            channel: "transactions".into(),
            format: "txn-v1".into(),
        };
        let channel = registry.resolve(&wanted, ChannelKind::Source).unwrap();
        assert_eq!(channel.config["topic"], "txn");
    }

    #[test]
    fn mismatches_say_what_exists() {
        let (registry, _) = registry(KAFKA);
        let as_sink = registry.resolve(
            &ChannelRef {
                channel: "transactions".into(),
                format: "txn-v1".into(),
            },
            ChannelKind::Sink,
        );
        assert!(as_sink.unwrap_err().contains("is a source"));
        let wrong_format = registry.resolve(
            &ChannelRef {
                channel: "transactions".into(),
                format: "v2".into(),
            },
            ChannelKind::Source,
        );
        assert!(
            wrong_format
                .unwrap_err()
                .contains("carries format `txn-v1`, but this flow expects `v2`")
        );
        let missing = registry.resolve(
            &ChannelRef {
                channel: "transaction".into(),
                format: "v2".into(),
            },
            ChannelKind::Source,
        );
        let missing = missing.unwrap_err();
        assert!(missing.contains("did you mean `transactions`"), "{missing}");
        assert!(
            missing.contains("transactions (kafka source, format txn-v1)"),
            "{missing}"
        );
    }

    #[test]
    fn credentials_in_any_shape_are_refused_without_being_echoed() {
        let text = "kind: ConfigMap\nmetadata: {name: x, labels: {modelops.io/data-channel: x}}\ndata:\n  kind: source\n  type: jdbc\n  format: f\n  url: \"jdbc:postgresql://db:5432/x?user=u&password=pw1\"\n  endpoint: \"https://user:pw2@host/api\"\n  sasl.jaas.config: \"org.apache.kafka.common.security.plain.PlainLoginModule required username=u password=pw3;\"\n  apiKey: pw4\n  clientSecret: pw5\n  credentialsSecret: reader\n";
        let (_, diagnostics) = registry(text);
        let text = diagnostics.to_string();
        for key in [
            "url",
            "endpoint",
            "sasl.jaas.config",
            "apiKey",
            "clientSecret",
        ] {
            assert!(
                text.contains(&format!("data.{key}: looks like a credential")),
                "{key}: {text}"
            );
        }
        assert!(!text.contains("credentialsSecret: looks"), "{text}");
        assert!(!text.contains("pw"), "secrets must not be echoed: {text}");
    }

    #[test]
    fn invalid_registrations_are_reported() {
        let text = "kind: ConfigMap\nmetadata: {name: x, labels: {modelops.io/data-channel: x}}\ndata: {kind: both, type: kafka, format: f, password: hunter2}\n---\nkind: ConfigMap\nmetadata: {name: unrelated}\ndata: {a: b}\n";
        let (registry, diagnostics) = registry(text);
        assert!(registry.is_empty());
        let text = diagnostics.to_string();
        assert!(text.contains("data.kind: `both` is neither"), "{text}");
        assert!(
            text.contains("data.password: looks like a credential"),
            "{text}"
        );
        assert!(
            !text.contains("hunter2"),
            "secrets must not be echoed: {text}"
        );
        assert!(
            text.contains("data.brokers: is required for a kafka channel"),
            "{text}"
        );
    }
}
