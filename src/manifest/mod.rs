//! Rendered text → Kubernetes objects: split and parse documents, check identity, stamp the
//! ownership labels (`k8s::ownership`) and put everything in install order (`k8s::kinds`).

use crate::k8s::kinds::{self, Wave};
use crate::k8s::ownership::LABEL_COMPONENT;
use crate::k8s::{ObjectKey, ObjectRef};
use crate::render::Piece;
use crate::yaml::Scalars;
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
    /// The wave it is applied in: by kind, and for workloads and custom resources by component.
    pub fn wave(&self) -> Wave {
        Wave::of_kind(self.kind(), self.component())
    }
    /// `kind/name`, how kubectl and the messages name an object.
    pub fn display(&self) -> String {
        crate::k8s::display(self.kind(), self.name())
    }
    /// apiVersion, kind, namespace, name, borrowed: as [`ObjectRef::key`].
    pub fn key(&self) -> ObjectKey<'_> {
        (
            self.api_version(),
            self.kind(),
            self.namespace(),
            self.name(),
        )
    }
    pub fn object_ref(&self) -> ObjectRef {
        ObjectRef {
            api_version: self.api_version().to_string(),
            kind: self.kind().to_string(),
            namespace: self.namespace().map(str::to_string),
            name: self.name().to_string(),
        }
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

/// What ordering, duplicate checks and messages need of an object, kept beside whatever the
/// caller keeps of it (the object itself, or just its YAML): which object, and where it was
/// rendered.
#[derive(Debug, Clone)]
pub struct Identity {
    pub object: ObjectRef,
    pub template: String,
    pub document: usize,
    pub component: Option<String>,
}

impl Identity {
    fn of(object: &Object) -> Identity {
        Identity {
            object: object.object_ref(),
            template: object.template.clone(),
            document: object.document,
            component: object.component().map(str::to_string),
        }
    }
}

/// An object that passed every check, and what the caller keeps of it.
#[derive(Debug)]
pub struct Built<T> {
    pub identity: Identity,
    pub kept: T,
}

/// The objects and problems of one [`Piece`] of rendered output.
#[derive(Debug)]
pub struct PieceObjects<T> {
    objects: Vec<Built<T>>,
    problems: Vec<String>,
}

/// Parses a piece of a template's output, checks and stamps each object, and hands it to
/// `keep`. Pieces are independent, so they are built on several threads while rendering goes on.
pub fn build_piece<T>(
    piece: &Piece,
    owner: &Owner,
    labels: &Value,
    keep: &impl Fn(Object) -> T,
) -> PieceObjects<T> {
    let mut built = PieceObjects {
        objects: Vec::new(),
        problems: Vec::new(),
    };
    let documents = match crate::yaml::parse_documents_as(&piece.text, Scalars::Rendered) {
        Ok(documents) => documents,
        Err(mut err) => {
            err.location = err
                .location
                .map(|(line, column)| (line + piece.line_offset, column));
            let what = if err
                .message
                .starts_with(crate::render::marks::STRUCTURE_CHANGED)
            {
                "refused"
            } else {
                "not valid YAML"
            };
            built.problems.push(format!(
                "{}: the rendered output is {what}: {err}",
                piece.template
            ));
            return built;
        }
    };
    for document in documents {
        let mut object = Object {
            template: piece.template.to_string(),
            document: piece.document_offset + document.index,
            value: document.value,
        };
        match stamp(&mut object, labels, owner) {
            Ok(()) => built.objects.push(Built {
                identity: Identity::of(&object),
                kept: keep(object),
            }),
            Err(message) => built.problems.push(format!(
                "{}, document {}: {message}",
                object.template, object.document
            )),
        }
    }
    built
}

/// The pieces' objects, in rendering order, checked for duplicates and sorted in install order;
/// or every problem of every piece.
pub fn assemble<T>(pieces: Vec<PieceObjects<T>>) -> Result<Vec<Built<T>>, ManifestError> {
    let mut problems = Vec::new();
    let mut objects = Vec::new();
    for piece in pieces {
        problems.extend(piece.problems);
        objects.extend(piece.objects);
    }
    let mut seen: BTreeMap<(&str, &str, &str, &str), &Identity> = BTreeMap::new();
    for Built { identity, .. } in &objects {
        let object = &identity.object;
        // Keyed by group, not apiVersion: apps/v1 and apps/v1beta1 name the same object.
        let key = (
            crate::k8s::group_of(&object.api_version),
            object.kind.as_str(),
            object.namespace.as_deref().unwrap_or_default(),
            object.name.as_str(),
        );
        if let Some(first) = seen.insert(key, identity) {
            problems.push(format!(
                "{}, document {}: {} is also rendered by {}, document {}",
                identity.template,
                identity.document,
                identity.object.display(),
                first.template,
                first.document
            ));
        }
    }
    match problems.len() {
        0 => {
            objects.sort_by_cached_key(|built| {
                let identity = &built.identity;
                kinds::install_rank(
                    &identity.object.kind,
                    &identity.object.name,
                    identity.component.as_deref(),
                )
            });
            Ok(objects)
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
    if kinds::is_cluster_scoped(&kind) {
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

/// An object the executor makes itself rather than the chart (the job-owned credentials Secret),
/// stamped as the rendered ones are; `source` names it in messages as a template would.
pub fn own_object(source: &str, value: Value, owner: &Owner) -> Result<Object, String> {
    let labels = crate::k8s::ownership::labels(&owner.job_id, &owner.pipeline);
    let mut object = Object {
        template: source.to_string(),
        document: 1,
        value,
    };
    stamp(&mut object, &labels, owner)?;
    Ok(object)
}

/// Puts `object` among `objects` (in install order) where install order puts it.
pub fn insert_in_install_order(objects: &mut Vec<Object>, object: Object) {
    let rank = |o: &Object| kinds::install_rank(o.kind(), o.name(), o.component());
    let at = objects.partition_point(|o| rank(o) <= rank(&object));
    objects.insert(at, object);
}

fn is_dns1123_subdomain(name: &str) -> bool {
    !name.is_empty() && name.len() <= 253 && name.split('.').all(crate::names::is_dns1123_label)
}

/// An object as a document of a YAML stream, preceded by its source template, as
/// `helm template` prints it.
pub fn to_yaml(object: &Object) -> String {
    // Written into a buffer reused by the thread, then copied once at its exact size: the
    // thousands of YAML texts `render` keeps would otherwise each leave a trail of outgrown
    // buffers between them in the heap.
    thread_local!(static BUFFER: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) });
    BUFFER.with_borrow_mut(|buffer| {
        buffer.clear();
        buffer.push_str("---\n# Source: ");
        buffer.push_str(&object.template);
        buffer.push('\n');
        crate::yaml::append(buffer, &object.value);
        buffer.as_str().to_owned()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::k8s::ownership::{SCORING_FLOW, labels as ownership_labels};
    use crate::render::Rendered;
    use serde_json::json;

    /// Every template's output through `build_piece` and `assemble`, as one piece each.
    fn build(rendered: &[Rendered], owner: &Owner) -> Result<Vec<Object>, ManifestError> {
        let labels = ownership_labels(&owner.job_id, &owner.pipeline);
        let pieces = rendered
            .iter()
            .map(|output| {
                let piece = Piece {
                    template: output.template.as_str().into(),
                    text: output.text.clone(),
                    line_offset: 0,
                    document_offset: 0,
                };
                build_piece(&piece, owner, &labels, &|object| object)
            })
            .collect();
        Ok(assemble(pieces)?.into_iter().map(|b| b.kept).collect())
    }

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
    fn later_pieces_report_positions_in_the_whole_template() {
        let piece = Piece {
            template: "c/templates/t.yaml".into(),
            text: format!(
                "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: Bad_Name\n{COMPONENT}"
            ),
            line_offset: 100,
            document_offset: 7,
        };
        let labels = ownership_labels("job-1", "fraud");
        let built = build_piece(&piece, &owner(), &labels, &|object| object);
        assert_eq!(built.problems.len(), 1);
        assert!(
            built.problems[0].starts_with("c/templates/t.yaml, document 8:"),
            "{:?}",
            built.problems
        );
        let broken = Piece {
            text: "---\na: 1\nb: [unclosed\n".into(),
            ..piece
        };
        let built = build_piece(&broken, &owner(), &labels, &|object| object);
        assert!(
            built.problems[0].contains("line 104"),
            "{:?}",
            built.problems
        );
    }

    #[test]
    fn cluster_scoped_objects_have_no_namespace() {
        let text = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: n\n  namespace: x\n  labels: {app.kubernetes.io/component: scoring-flow}\n";
        let objects = build(&rendered(text), &owner()).unwrap();
        assert_eq!(objects[0].namespace(), None);
    }

    fn object(kind: &str, name: &str, component: &str) -> Object {
        Object {
            template: "t".into(),
            document: 1,
            value: json!({"apiVersion": "v1", "kind": kind, "metadata": {"name": name, "labels": {LABEL_COMPONENT: component}}}),
        }
    }

    #[test]
    fn services_before_flows_before_autoscalers() {
        let mut objects = [
            object("HorizontalPodAutoscaler", "scoringflow-f", SCORING_FLOW),
            object("Job", "f", SCORING_FLOW),
            object("Deployment", "s", "scoring-service"),
            object("Service", "s", "scoring-service"),
            object("ConfigMap", "f-config", SCORING_FLOW),
            object("Namespace", "n", "scoring-service"),
        ];
        objects.sort_by_cached_key(|o| kinds::install_rank(o.kind(), o.name(), o.component()));
        let kinds: Vec<&str> = objects.iter().map(Object::kind).collect();
        assert_eq!(
            kinds,
            [
                "Namespace",
                "ConfigMap",
                "Service",
                "Deployment",
                "Job",
                "HorizontalPodAutoscaler"
            ]
        );
    }

    #[test]
    fn waves_from_metadata_match_waves_of_objects() {
        for (kind, component) in [
            ("Job", SCORING_FLOW),
            ("Deployment", SCORING_FLOW),
            ("Deployment", "scoring-service"),
            ("SeldonDeployment", "scoring-service"),
            ("ConfigMap", SCORING_FLOW),
            ("HorizontalPodAutoscaler", SCORING_FLOW),
        ] {
            let whole = object(kind, "x", component).wave();
            assert_eq!(
                Wave::of_kind(kind, Some(component)),
                whole,
                "{kind} {component}"
            );
        }
        assert_eq!(Wave::of_kind("Job", None), Wave::ScoringServices);
    }
}
