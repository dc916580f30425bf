//! Before anything is applied: every model URI of the merged values can be fetched by
//! `fetch-models`, and the stores that need credentials have a Secret to take them from (docs/artifact-stores.md).
//!
//! "Credentials given" is `global.artifacts.credentialsSecret` in the values: the name of the
//! Secret whose keys become the init container's environment. It defaults to
//! [`DEFAULT_CREDENTIALS_SECRET`] (the umbrella chart's `values.yaml` sets the same name); an
//! empty string says "no credentials", and then only `http(s)://` and `file://` models are accepted.

use super::uri::{ArtifactUri, Store};
use crate::diagnostics::{Diagnostics, Origin};
use serde_json::Value;
use std::collections::BTreeMap;

/// The Secret fetch-models reads credentials from unless the values name another.
pub const DEFAULT_CREDENTIALS_SECRET: &str = "modelops-artifact-credentials";

/// Where the values name the credentials Secret.
pub const CREDENTIALS_SECRET_FIELD: &str = "global.artifacts.credentialsSecret";

/// The credentials Secret the values name: `None` when they say "no credentials" (empty string).
pub fn credentials_secret(values: &Value) -> Result<Option<String>, Diagnostics> {
    let origin = Origin::new("merged values", 0);
    let mut diagnostics = Diagnostics::default();
    let setting = values
        .get("global")
        .and_then(|g| g.get("artifacts"))
        .and_then(|a| a.get("credentialsSecret"));
    let name = match setting {
        None => Some(DEFAULT_CREDENTIALS_SECRET.to_string()),
        Some(Value::String(name)) if name.is_empty() => None,
        Some(Value::String(name)) => {
            if !is_dns_subdomain(name) {
                diagnostics.push(
                    &origin,
                    CREDENTIALS_SECRET_FIELD,
                    format!("`{name}` is not a Secret name (lowercase DNS subdomain, at most 253 characters)"),
                );
            }
            Some(name.clone())
        }
        Some(other) => {
            diagnostics.push(
                &origin,
                CREDENTIALS_SECRET_FIELD,
                format!("must be a Secret name or \"\" for none, not {other}"),
            );
            None
        }
    };
    diagnostics.into_result(name)
}

/// What a job's models need of the credentials Secret.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Needs {
    /// The Secret the values name (`None`: no credentials).
    pub secret: Option<String>,
    /// Each store that needs credentials, with the names of the models on it.
    pub stores: BTreeMap<Store, Vec<String>>,
}

/// Checks every `scoringServices[i].models[j].uri`; all problems are reported together, each
/// naming the model and its field.
pub fn check_values(values: &Value) -> Result<Needs, Diagnostics> {
    let mut stores: BTreeMap<Store, Vec<String>> = BTreeMap::new();
    let mut diagnostics = Diagnostics::default();
    let secret = match credentials_secret(values) {
        Ok(secret) => secret,
        Err(problems) => {
            diagnostics.extend(problems);
            None
        }
    };
    let services = values
        .get("scoringServices")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    for (i, service) in services.iter().enumerate() {
        let models = service
            .get("models")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default();
        for (j, model) in models.iter().enumerate() {
            let name = model.get("name").and_then(Value::as_str).unwrap_or("?");
            let origin = Origin::new("merged values", 0).with_object("Model", name);
            let field = format!("scoringServices[{i}].models[{j}].uri");
            let Some(raw) = model.get("uri").and_then(Value::as_str) else {
                diagnostics.push(&origin, field, "missing (a model needs an artifact URI)");
                continue;
            };
            match ArtifactUri::parse(raw) {
                Err(err) => diagnostics.push(&origin, field, err.to_string()),
                Ok(uri) if uri.store.needs_credentials() && secret.is_none() => diagnostics.push(
                    &origin,
                    field,
                    format!(
                        "`{raw}` is on {}, which needs credentials, but `{CREDENTIALS_SECRET_FIELD}` is empty (name the Secret that holds them)",
                        uri.store.name()
                    ),
                ),
                Ok(uri) if uri.store.needs_credentials() => {
                    let models = stores.entry(uri.store).or_default();
                    if !models.iter().any(|m| m == name) {
                        models.push(name.to_string());
                    }
                }
                Ok(_) => {}
            }
        }
    }
    diagnostics.into_result(Needs { secret, stores })
}

/// A Kubernetes object name such as a Secret's: dot-separated DNS labels, at most 253 characters.
fn is_dns_subdomain(name: &str) -> bool {
    name.len() <= 253 && name.split('.').all(crate::names::is_dns1123_label)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn values(global: Value, uris: &[&str]) -> Value {
        let models: Vec<Value> = uris
            .iter()
            .enumerate()
            .map(|(i, uri)| json!({"name": format!("m{i}"), "version": "1", "uri": uri}))
            .collect();
        json!({"global": global, "scoringServices": [{"name": "svc", "models": models}]})
    }

    #[test]
    fn the_default_secret_covers_every_store() {
        let v = values(
            json!({}),
            &[
                "s3://b-1/m",
                "gs://b-1/m",
                "az://box/m",
                "https://h/m",
                "file:///m",
            ],
        );
        let needs = check_values(&v).unwrap();
        assert_eq!(
            needs.stores.keys().copied().collect::<Vec<_>>(),
            [Store::S3, Store::Gcs, Store::Azure]
        );
        assert_eq!(needs.stores[&Store::S3], ["m0"]);
        assert_eq!(
            credentials_secret(&v),
            Ok(Some(DEFAULT_CREDENTIALS_SECRET.to_string()))
        );
    }

    #[test]
    fn an_unfetchable_scheme_is_refused_naming_model_and_field() {
        let v = values(json!({}), &["https://h/ok", "ftp://h/m.pmml"]);
        let text = check_values(&v).unwrap_err().to_string();
        assert_eq!(
            text,
            "1 problem:\n  - merged values (Model/m1): scoringServices[0].models[1].uri: \
             `ftp://h/m.pmml`: scheme `ftp` cannot be fetched (supported: s3://, gs://, az://, abfs://, http://, https://, file://)"
        );
    }

    #[test]
    fn object_stores_without_credentials_are_refused_http_is_not() {
        let v = values(
            json!({"artifacts": {"credentialsSecret": ""}}),
            &["s3://bucket/m", "https://h/m", "file:///m"],
        );
        let problems = check_values(&v).unwrap_err();
        assert_eq!(problems.len(), 1, "{problems}");
        let text = problems.to_string();
        assert!(
            text.contains("(Model/m0): scoringServices[0].models[0].uri"),
            "{text}"
        );
        assert!(text.contains("on S3, which needs credentials"), "{text}");
        assert!(
            text.contains("global.artifacts.credentialsSecret"),
            "{text}"
        );
    }

    #[test]
    fn a_bad_secret_setting_is_reported() {
        let v = values(
            json!({"artifacts": {"credentialsSecret": "Not_A_Name"}}),
            &[],
        );
        assert!(
            check_values(&v)
                .unwrap_err()
                .to_string()
                .contains("is not a Secret name")
        );
        let v = values(json!({"artifacts": {"credentialsSecret": 3}}), &[]);
        assert!(check_values(&v).unwrap_err().to_string().contains("not 3"));
    }
}
