//! Rendered text → Kubernetes objects: split and parse documents, check identity, stamp the
//! ownership labels of DESIGN §6 and put everything in install order (DESIGN §7).

mod order;

pub use order::{SCORING_FLOW, Wave, install_order};

use crate::preprocess::{LABEL_COMPONENT, ownership_labels};
use crate::render::Rendered;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("{template}, document {document}: {message}")]
    Document {
        template: String,
        document: usize,
        message: String,
    },
    #[error("{count} problems in the rendered objects:\n  - {}", .problems.join("\n  - "))]
    Several { count: usize, problems: Vec<String> },
}

/// One rendered Kubernetes object and where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Object {
    pub template: String,
    pub document: usize,
    pub value: Value,
}

impl Object {
    fn str_at(&self, pointer: &str) -> &str {
        self.value
            .pointer(pointer)
            .and_then(Value::as_str)
            .unwrap_or_default()
    }
    pub fn api_version(&self) -> &str {
        self.str_at("/apiVersion")
    }
    pub fn kind(&self) -> &str {
        self.str_at("/kind")
    }
    pub fn name(&self) -> &str {
        self.str_at("/metadata/name")
    }
    pub fn namespace(&self) -> Option<&str> {
        self.value
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
    }
    pub fn label(&self, key: &str) -> Option<&str> {
        self.value
            .pointer("/metadata/labels")
            .and_then(|l| l.get(key))
            .and_then(Value::as_str)
    }
    pub fn component(&self) -> Option<&str> {
        self.label(LABEL_COMPONENT)
    }
    /// `kind/name`, how kubectl and the messages name an object.
    pub fn display(&self) -> String {
        format!("{}/{}", self.kind().to_ascii_lowercase(), self.name())
    }
    /// `apiVersion` group without version, `""` for the core group.
    pub fn group(&self) -> &str {
        self.api_version()
            .rsplit_once('/')
            .map(|(group, _)| group)
            .unwrap_or("")
    }
    /// sha256 of the canonical JSON of the object: equal objects, equal hash.
    pub fn digest(&self) -> String {
        crate::digest::sha256_hex(self.value.to_string().as_bytes())
    }
}

/// Who the objects belong to.
#[derive(Debug, Clone)]
pub struct Owner {
    pub job_id: String,
    pub pipeline: String,
    pub namespace: String,
}

/// Kinds that live outside namespaces; everything else gets the job's namespace.
const CLUSTER_SCOPED: [&str; 12] = [
    "Namespace",
    "CustomResourceDefinition",
    "ClusterRole",
    "ClusterRoleBinding",
    "PriorityClass",
    "StorageClass",
    "PersistentVolume",
    "IngressClass",
    "RuntimeClass",
    "ValidatingWebhookConfiguration",
    "MutatingWebhookConfiguration",
    "APIService",
];

pub fn is_cluster_scoped(kind: &str) -> bool {
    CLUSTER_SCOPED.contains(&kind)
}

/// Parses every template's output into objects, stamps ownership, and sorts in install order.
/// All problems are reported together.
pub fn build(rendered: &[Rendered], owner: &Owner) -> Result<Vec<Object>, ManifestError> {
    let mut problems = Vec::new();
    let mut objects = Vec::new();
    let labels = ownership_labels(&owner.job_id, &owner.pipeline);
    for output in rendered {
        let documents = match crate::yaml::parse_documents(&output.text) {
            Ok(documents) => documents,
            Err(err) => {
                problems.push(format!(
                    "{}: the rendered output is not valid YAML: {err}",
                    output.template
                ));
                continue;
            }
        };
        for document in documents {
            let mut object = Object {
                template: output.template.clone(),
                document: document.index,
                value: document.value,
            };
            match stamp(&mut object, &labels, owner) {
                Ok(()) => objects.push(object),
                Err(message) => problems.push(format!(
                    "{}, document {}: {message}",
                    object.template, object.document
                )),
            }
        }
    }
    let mut seen: BTreeMap<(String, String, String, String), &Object> = BTreeMap::new();
    for object in &objects {
        let key = (
            object.group().to_string(),
            object.kind().to_string(),
            object.namespace().unwrap_or_default().to_string(),
            object.name().to_string(),
        );
        if let Some(first) = seen.insert(key, object) {
            problems.push(format!(
                "{}, document {}: {} is also rendered by {}, document {}",
                object.template,
                object.document,
                object.display(),
                first.template,
                first.document
            ));
        }
    }
    match problems.len() {
        0 => {
            install_order(&mut objects);
            Ok(objects)
        }
        1 => {
            let message = problems.remove(0);
            Err(ManifestError::Several {
                count: 1,
                problems: vec![message],
            })
        }
        count => Err(ManifestError::Several { count, problems }),
    }
}

fn stamp(object: &mut Object, labels: &Value, owner: &Owner) -> Result<(), String> {
    let Value::Object(map) = &mut object.value else {
        return Err("is not a mapping; every document must be a Kubernetes object".to_string());
    };
    for key in ["apiVersion", "kind"] {
        if map
            .get(key)
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
        {
            return Err(format!("`{key}` is missing or not a string"));
        }
    }
    let kind = map["kind"].as_str().unwrap_or_default().to_string();
    let metadata = map
        .entry("metadata")
        .or_insert_with(|| Value::Object(Map::new()));
    let Value::Object(metadata) = metadata else {
        return Err("`metadata` must be a mapping".to_string());
    };
    let name = metadata
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if !is_dns1123_subdomain(name) {
        return Err(format!(
            "{kind} has an invalid metadata.name `{name}` (a DNS-1123 subdomain of at most 253 characters is required)"
        ));
    }
    let name = name.to_string();
    if is_cluster_scoped(&kind) {
        metadata.remove("namespace");
    } else {
        match metadata.get("namespace").and_then(Value::as_str) {
            Some(namespace) if namespace != owner.namespace => {
                return Err(format!(
                    "{kind}/{name} sets namespace `{namespace}`, but the job's objects live in `{}`",
                    owner.namespace
                ));
            }
            _ => {
                metadata.insert("namespace".into(), Value::String(owner.namespace.clone()));
            }
        }
    }
    let object_labels = metadata
        .entry("labels")
        .or_insert_with(|| Value::Object(Map::new()));
    let Value::Object(object_labels) = object_labels else {
        return Err(format!("{kind}/{name}: metadata.labels must be a mapping"));
    };
    for (key, value) in labels.as_object().expect("labels are a mapping") {
        object_labels.insert(key.clone(), value.clone());
    }
    if !object_labels.contains_key(LABEL_COMPONENT) {
        return Err(format!(
            "{kind}/{name} has no `{LABEL_COMPONENT}` label; the chart must say which component it belongs to"
        ));
    }
    Ok(())
}

fn is_dns1123_subdomain(name: &str) -> bool {
    !name.is_empty() && name.len() <= 253 && name.split('.').all(crate::names::is_dns1123_label)
}

/// The objects as one YAML stream, each preceded by its source template, as `helm template` prints.
pub fn to_yaml_stream(objects: &[Object]) -> String {
    crate::parallel::map(objects, |object| {
        format!(
            "---\n# Source: {}\n{}",
            object.template,
            crate::yaml::to_string(&object.value)
        )
    })
    .concat()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owner() -> Owner {
        Owner {
            job_id: "job-1".into(),
            pipeline: "fraud".into(),
            namespace: "dev".into(),
        }
    }

    fn rendered(text: &str) -> Vec<Rendered> {
        vec![Rendered {
            template: "c/templates/t.yaml".into(),
            text: text.into(),
        }]
    }

    const COMPONENT: &str = "  labels: {app.kubernetes.io/component: scoring-flow}\n";

    #[test]
    fn stamps_labels_and_namespace() {
        let objects = build(
            &rendered(&format!(
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n{COMPONENT}"
            )),
            &owner(),
        )
        .unwrap();
        let object = &objects[0];
        assert_eq!(object.namespace(), Some("dev"));
        assert_eq!(object.label("modelops.io/job-id"), Some("job-1"));
        assert_eq!(
            object.label("app.kubernetes.io/managed-by"),
            Some("modelops-executor")
        );
        assert_eq!(object.label("modelops.io/pipeline"), Some("fraud"));
    }

    #[test]
    fn reports_every_problem() {
        let text = format!(
            "kind: ConfigMap\nmetadata: {{name: a}}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: Bad_Name\n{COMPONENT}---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: s\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n  namespace: other\n{COMPONENT}"
        );
        let err = build(&rendered(&text), &owner()).unwrap_err().to_string();
        assert!(err.starts_with("4 problems"), "{err}");
        assert!(err.contains("document 1: `apiVersion` is missing"), "{err}");
        assert!(err.contains("invalid metadata.name `Bad_Name`"), "{err}");
        assert!(
            err.contains("Secret/s has no `app.kubernetes.io/component` label"),
            "{err}"
        );
        assert!(err.contains("sets namespace `other`"), "{err}");
    }

    #[test]
    fn duplicates_name_both_places() {
        let one = format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n{COMPONENT}");
        let err = build(&rendered(&format!("{one}---\n{one}")), &owner())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("configmap/a is also rendered by c/templates/t.yaml, document 1"),
            "{err}"
        );
    }

    #[test]
    fn cluster_scoped_objects_have_no_namespace() {
        let text = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: n\n  namespace: x\n  labels: {app.kubernetes.io/component: scoring-flow}\n";
        let objects = build(&rendered(text), &owner()).unwrap();
        assert_eq!(objects[0].namespace(), None);
    }
}
