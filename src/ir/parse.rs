//! Documents → typed IR, collecting every problem with file, document and field path.

use super::types::*;
use crate::archive::Files;
use crate::diagnostics::{Diagnostics, Origin, suggestion};
use crate::names::is_dns1123_label;
use crate::schema::{Reader, join};
use crate::yaml;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};

const KINDS: [&str; 3] = ["ScoringPipeline", "Model", "ScoringFlow"];

/// Parses and validates every `*.yaml`/`*.yml` file of the tree, in sorted path order.
pub fn parse(files: &Files) -> Result<Ir, IrError> {
    let mut diagnostics = Diagnostics::default();
    let mut pipelines: Vec<Pipeline> = Vec::new();
    let mut flows: BTreeMap<String, Flow> = BTreeMap::new();
    let mut models: BTreeMap<String, Model> = BTreeMap::new();
    let mut seen_documents = 0;
    // Every (kind, name) a document declared, valid or not: references to an invalid document
    // are not reported again as dangling.
    let mut declared: BTreeSet<(String, String)> = BTreeSet::new();

    for file in files.files.iter().filter(|f| is_yaml(&f.path)) {
        let file_origin = Origin::new(file.path.clone(), 0);
        let Ok(text) = std::str::from_utf8(&file.bytes) else {
            diagnostics.push(&file_origin, "", "is not valid UTF-8");
            continue;
        };
        let documents = match yaml::parse_documents_as(text, yaml::Scalars::Exact) {
            Ok(documents) => documents,
            Err(err) => {
                diagnostics.push(&file_origin, "", format!("invalid YAML: {err}"));
                continue;
            }
        };
        for document in documents {
            seen_documents += 1;
            let origin = Origin::new(file.path.clone(), document.index);
            let mut reader = Reader::new(origin, &mut diagnostics);
            let (identity, parsed) = read_document(&mut reader, &document.value);
            declared.extend(identity);
            match parsed {
                Some(Parsed::Pipeline(p)) => pipelines.push(p),
                Some(Parsed::Flow(flow)) => insert_unique(
                    &mut flows,
                    flow.name.clone(),
                    flow,
                    |f| &f.origin,
                    &mut diagnostics,
                ),
                Some(Parsed::Model(model)) => insert_unique(
                    &mut models,
                    model.name.clone(),
                    model,
                    |m| &m.origin,
                    &mut diagnostics,
                ),
                None => {}
            }
        }
    }

    let root = Origin::new(files.origin.clone(), 0);
    if seen_documents == 0 {
        diagnostics.push(&root, "", "holds no YAML documents (*.yaml or *.yml files)");
    }
    let invalid_pipeline = declared.iter().any(|(kind, _)| kind == "ScoringPipeline");
    let pipeline = match pipelines.len() {
        1 => pipelines.pop(),
        0 => {
            if seen_documents > 0 && !invalid_pipeline {
                diagnostics.push(
                    &root,
                    "",
                    "holds no ScoringPipeline document; exactly one is required",
                );
            }
            None
        }
        _ => {
            for extra in &pipelines[1..] {
                let first = &pipelines[0].origin;
                diagnostics.push(
                    &extra.origin,
                    "",
                    format!("a second ScoringPipeline; exactly one is allowed (first in {first})"),
                );
            }
            None
        }
    };
    if let Some(pipeline) = &pipeline {
        check_references(pipeline, &flows, &models, &declared, &mut diagnostics);
    }
    match (pipeline, diagnostics.into_result(())) {
        (Some(pipeline), Ok(())) => Ok(Ir {
            pipeline,
            flows,
            models,
        }),
        (_, Err(diagnostics)) => Err(IrError { diagnostics }),
        (None, Ok(())) => unreachable!("a missing pipeline is always diagnosed"),
    }
}

fn is_yaml(path: &str) -> bool {
    let lower = path.to_ascii_lowercase();
    lower.ends_with(".yaml") || lower.ends_with(".yml")
}

enum Parsed {
    Pipeline(Pipeline),
    Flow(Flow),
    Model(Model),
}

fn insert_unique<T>(
    into: &mut BTreeMap<String, T>,
    name: String,
    item: T,
    origin: impl Fn(&T) -> &Origin,
    diagnostics: &mut Diagnostics,
) {
    if let Some(first) = into.get(&name) {
        let message = format!(
            "duplicate name `{name}` (first defined in {})",
            origin(first)
        );
        diagnostics.push(origin(&item), "metadata.name", message);
    } else {
        into.insert(name, item);
    }
}

/// The document's (kind, name) as soon as they are known, and the parsed object if it is valid.
fn read_document(r: &mut Reader, value: &Value) -> (Option<(String, String)>, Option<Parsed>) {
    let mut identity = None;
    let parsed = read_object(r, value, &mut identity);
    (identity, parsed)
}

fn read_object(
    r: &mut Reader,
    value: &Value,
    identity: &mut Option<(String, String)>,
) -> Option<Parsed> {
    let doc = r.mapping(value, "", &["apiVersion", "kind", "metadata", "spec"])?;
    let api_version = r.required_string(doc, "", "apiVersion");
    if let Some(api_version) = &api_version
        && api_version != API_VERSION
    {
        r.error(
            "apiVersion",
            format!("`{api_version}` is not supported; use `{API_VERSION}`"),
        );
    }
    let kind = r.required_string(doc, "", "kind")?;
    if !KINDS.contains(&kind.as_str()) {
        let hint = suggestion(&kind, KINDS);
        r.error(
            "kind",
            format!(
                "unknown kind `{kind}`{hint}; expected one of {}",
                KINDS.join(", ")
            ),
        );
        return None;
    }
    let metadata = r.required_mapping(
        doc,
        "",
        "metadata",
        &["name", "namespace", "labels", "annotations"],
    )?;
    let name = r.required_string(metadata, "metadata", "name")?;
    *identity = Some((kind.clone(), name.clone()));
    r.origin = r.origin.clone().with_object(&kind, &name);
    check_name(r, "metadata.name", &name);
    let namespace = r.optional_string(metadata, "metadata", "namespace");
    if let Some(namespace) = &namespace {
        check_name(r, "metadata.namespace", namespace);
    }
    r.string_map(metadata, "metadata", "labels");
    r.string_map(metadata, "metadata", "annotations");
    let spec = doc.get("spec").unwrap_or(&Value::Null);
    let origin = r.origin.clone();
    match kind.as_str() {
        "ScoringPipeline" => read_pipeline(r, spec, origin, name, namespace).map(Parsed::Pipeline),
        "ScoringFlow" => {
            reject_namespace(r, &namespace);
            read_flow(r, spec, origin, name).map(Parsed::Flow)
        }
        _ => {
            reject_namespace(r, &namespace);
            read_model(r, spec, origin, name).map(Parsed::Model)
        }
    }
}

fn reject_namespace(r: &mut Reader, namespace: &Option<String>) {
    if namespace.is_some() {
        r.error(
            "metadata.namespace",
            "only the ScoringPipeline may set a namespace",
        );
    }
}

fn check_name(r: &mut Reader, field: &str, name: &str) {
    if !is_dns1123_label(name) {
        r.error(
            field,
            format!("`{name}` is not a DNS-1123 label (lowercase letters, digits and '-', starting and ending with a letter or digit, at most 63 characters)"),
        );
    }
}

/// A model version is one directory level under the model's directory (fetch-models) and one
/// segment of the runtime's URLs (`/v2/models/<name>/versions/<version>/ready`, the readiness
/// probe): nothing there may need escaping.
fn is_version(version: &str) -> bool {
    (1..=128).contains(&version.len())
        && !version.starts_with('.')
        && version
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '+'))
}

fn spec_mapping<'v>(
    r: &mut Reader,
    spec: &'v Value,
    allowed: &[&str],
) -> Option<&'v Map<String, Value>> {
    if spec.is_null() {
        r.error("spec", "is required");
        return None;
    }
    r.mapping(spec, "spec", allowed)
}

fn read_pipeline(
    r: &mut Reader,
    spec: &Value,
    origin: Origin,
    name: String,
    namespace: Option<String>,
) -> Option<Pipeline> {
    let spec = spec_mapping(r, spec, &["mode", "parameters", "flows"])?;
    let mode = match r.optional_string(spec, "spec", "mode") {
        None => Mode::Batch,
        Some(text) => Mode::parse(&text).unwrap_or_else(|| {
            let hint = suggestion(&text, Mode::NAMES);
            r.error(
                "spec.mode",
                format!("unknown mode `{text}`{hint}; expected batch or streaming"),
            );
            Mode::Batch
        }),
    };
    let parameters = r.string_map(spec, "spec", "parameters");
    check_parameter_names(r, "spec.parameters", &parameters);
    let mut flows = Vec::new();
    match r.list(spec, "spec", "flows") {
        None => r.error(
            "spec.flows",
            "is required: list the ScoringFlow names the pipeline runs",
        ),
        Some(items) if items.is_empty() => {
            r.error("spec.flows", "must name at least one ScoringFlow")
        }
        Some(items) => {
            for (i, item) in items.iter().enumerate() {
                let field = format!("spec.flows[{i}]");
                let Some(flow) = r.scalar(item, &field) else {
                    continue;
                };
                if flow.contains("${") {
                    // Which flows run is fixed by the IR; a parameter here was either dropped
                    // or reported as a missing flow before.
                    r.error(
                        &field,
                        format!("`{flow}`: a flow name cannot use parameters (`${{…}}`); list the ScoringFlow's metadata.name"),
                    );
                    continue;
                }
                if flows.contains(&flow) {
                    r.error(&field, format!("flow `{flow}` is listed twice"));
                } else {
                    flows.push(flow);
                }
            }
        }
    }
    Some(Pipeline {
        origin,
        name,
        namespace,
        mode,
        parameters,
        flows,
    })
}

fn check_parameter_names(r: &mut Reader, field: &str, parameters: &BTreeMap<String, String>) {
    for name in parameters.keys() {
        if !is_parameter_name(name) {
            r.error(
                &join(field, name),
                "a parameter name may hold only letters, digits, '_', '-' and '.'",
            );
        }
    }
}

pub fn is_parameter_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

fn read_model(r: &mut Reader, spec: &Value, origin: Origin, name: String) -> Option<Model> {
    let spec = spec_mapping(r, spec, &["format", "version", "artifact", "validation"])?;
    let validation = match spec.get("validation") {
        None | Some(Value::Null) => None,
        Some(value) => {
            crate::validate::samples::read_validation(r, value, "spec.validation");
            Some(value.clone())
        }
    };
    let format_text = r.required_string(spec, "spec", "format");
    let format = format_text.as_deref().and_then(|text| {
        let format = ModelFormat::parse(text);
        if format.is_none() {
            let names = ModelFormat::ALL.map(|(name, _)| name);
            let hint = suggestion(text, names);
            r.error(
                "spec.format",
                format!(
                    "unsupported format `{text}`{hint}; supported: {}",
                    names.join(", ")
                ),
            );
        }
        format
    });
    let version = r.required_string(spec, "spec", "version");
    if let Some(version) = &version
        && !is_version(version)
    {
        r.error(
            "spec.version",
            format!("`{version}` is not a version: 1-128 letters, digits, '.', '_', '-' or '+', not starting with '.' (it names a directory and a URL path segment)"),
        );
    }
    let artifact = r.required_mapping(spec, "spec", "artifact", &["uri", "sha256"]);
    let (uri, sha256) = match artifact {
        Some(artifact) => {
            let uri = r.required_string(artifact, "spec.artifact", "uri");
            if let Some(uri) = &uri
                && !uri.contains("://")
            {
                r.error(
                    "spec.artifact.uri",
                    format!(
                        "`{uri}` is not a URI (expected a scheme such as s3://, gs://, https://)"
                    ),
                );
            }
            let sha256 = r.optional_string(artifact, "spec.artifact", "sha256");
            if let Some(sha) = &sha256
                && !crate::digest::is_sha256_hex(sha)
            {
                r.error(
                    "spec.artifact.sha256",
                    "must be 64 lowercase hexadecimal characters",
                );
            }
            (uri, sha256)
        }
        None => (None, None),
    };
    Some(Model {
        origin,
        name,
        format: format?,
        version: version?,
        uri: uri?,
        sha256,
        validation,
    })
}

fn read_flow(r: &mut Reader, spec: &Value, origin: Origin, name: String) -> Option<Flow> {
    let spec = spec_mapping(
        r,
        spec,
        &["source", "sink", "steps", "parameters", "replicas"],
    )?;
    let source = read_channel_ref(r, spec, "source");
    let sink = read_channel_ref(r, spec, "sink");
    let parameters = r.string_map(spec, "spec", "parameters");
    check_parameter_names(r, "spec.parameters", &parameters);
    let replicas = r.optional_u32(spec, "spec", "replicas").unwrap_or(1);
    if replicas == 0 {
        r.error("spec.replicas", "must be at least 1");
    } else if replicas > i32::MAX as u32 {
        // Kubernetes' replicas are int32.
        r.error(
            "spec.replicas",
            format!("{replicas} is more than Kubernetes allows ({})", i32::MAX),
        );
    }
    let mut steps = Vec::new();
    match r.list(spec, "spec", "steps") {
        None => r.error("spec.steps", "is required: a flow needs at least one step"),
        Some(items) if items.is_empty() => r.error("spec.steps", "must hold at least one step"),
        Some(items) => {
            for (i, item) in items.iter().enumerate() {
                let path = format!("spec.steps[{i}]");
                if let Some(step) = read_step(r, item, &path) {
                    if steps.iter().any(|s: &Step| s.name == step.name) {
                        r.error(
                            &join(&path, "name"),
                            format!("step name `{}` is used twice", step.name),
                        );
                    }
                    steps.push(step);
                }
            }
        }
    }
    Some(Flow {
        origin,
        name,
        source: source?,
        sink: sink?,
        steps,
        parameters,
        replicas,
    })
}

fn read_channel_ref(r: &mut Reader, spec: &Map<String, Value>, key: &str) -> Option<ChannelRef> {
    let map = r.required_mapping(spec, "spec", key, &["channel", "format"])?;
    let path = join("spec", key);
    let channel = r.required_string(map, &path, "channel");
    let format = r.required_string(map, &path, "format");
    Some(ChannelRef {
        channel: channel?,
        format: format?,
    })
}

fn read_step(r: &mut Reader, value: &Value, path: &str) -> Option<Step> {
    let map = r.mapping(value, path, &["name", "model", "expression"])?;
    let name = r.required_string(map, path, "name");
    let model = r.optional_string(map, path, "model");
    let expression = r.optional_string(map, path, "expression");
    let action = match (model, expression) {
        (Some(model), None) => StepAction::Model(model),
        (None, Some(expression)) => StepAction::Expression(expression),
        (Some(_), Some(_)) => {
            r.error(path, "a step has either `model` or `expression`, not both");
            return None;
        }
        (None, None) => {
            r.error(path, "a step needs `model` (a Model name) or `expression`");
            return None;
        }
    };
    Some(Step {
        name: name?,
        action,
    })
}

fn check_references(
    pipeline: &Pipeline,
    flows: &BTreeMap<String, Flow>,
    models: &BTreeMap<String, Model>,
    declared: &BTreeSet<(String, String)>,
    d: &mut Diagnostics,
) {
    let is_declared =
        |kind: &str, name: &str| declared.contains(&(kind.to_string(), name.to_string()));
    for (i, flow) in pipeline.flows.iter().enumerate() {
        if !flows.contains_key(flow) && !is_declared("ScoringFlow", flow) {
            let hint = suggestion(flow, flows.keys().map(String::as_str));
            d.push(
                &pipeline.origin,
                format!("spec.flows[{i}]"),
                format!("no ScoringFlow named `{flow}`{hint}"),
            );
        }
    }
    for flow in flows.values() {
        if !pipeline.flows.contains(&flow.name) {
            d.push(
                &flow.origin,
                "metadata.name",
                format!(
                    "ScoringFlow `{}` is not listed in the pipeline's spec.flows",
                    flow.name
                ),
            );
        }
        for (i, step) in flow.steps.iter().enumerate() {
            if let StepAction::Model(model) = &step.action
                && !models.contains_key(model)
                && !is_declared("Model", model)
                && !model.contains("${")
            {
                let hint = suggestion(model, models.keys().map(String::as_str));
                d.push(
                    &flow.origin,
                    format!("spec.steps[{i}].model"),
                    format!("no Model named `{model}`{hint}"),
                );
            }
        }
    }
}
