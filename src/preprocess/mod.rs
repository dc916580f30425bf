//! Preprocessing (docs/ir.md): a validated IR plus the channel registry, parameters, globals and
//! user values become one merged values tree, deterministic, with its sha256 as the values digest.

pub mod channels;
pub mod globals;
pub mod params;

use crate::artifacts::credentials::Mode;
use crate::diagnostics::{Diagnostics, Origin};
use crate::ir::{Flow, Ir, Model, Runtime, StepAction};
use crate::names::{MAX_BASE_NAME, bounded_name, is_dns1123_label};
use crate::values::{self, ValuesError};
use channels::{ChannelKind, Registry};
use params::{Scope, substitute};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, thiserror::Error)]
pub enum PreprocessError {
    #[error("{0}")]
    Invalid(Diagnostics),
    #[error(transparent)]
    Values(#[from] ValuesError),
    #[error(
        "job id `{0}` is not a DNS-1123 label (lowercase letters, digits and '-', at most 63 characters)"
    )]
    JobId(String),
    #[error("namespace `{0}` is not a DNS-1123 label")]
    Namespace(String),
}

/// Everything besides the IR and the registry that shapes the values.
#[derive(Debug, Clone, Default)]
pub struct Inputs {
    pub job_id: Option<String>,
    pub namespace: Option<String>,
    /// `--param k=v`, highest precedence for `${k}`.
    pub params: BTreeMap<String, String>,
    /// Global settings, lowest precedence first: the `modelops-globals` ConfigMap (install
    /// only), then `--globals FILE`.
    pub globals: Vec<globals::Layer>,
    /// `-f FILE`, in command-line order.
    pub value_files: Vec<Value>,
    /// `--set-json`, `--set`, `--set-string`, `--set-file`, in the order they are applied
    /// (Helm's: [`values::flags::SetFlag::in_helm_order`]).
    pub sets: Vec<values::flags::SetFlag>,
    /// `--artifact-credentials`: with `from-env`, the values name the job-owned Secret install
    /// creates ([`credentials_secret_name`]).
    pub artifact_credentials: crate::artifacts::credentials::Mode,
}

#[derive(Debug, Clone)]
pub struct Preprocessed {
    pub values: Value,
    /// The values as YAML, byte-identical for identical inputs; what `preprocess` prints.
    pub yaml: String,
    /// sha256 of `yaml`.
    pub digest: String,
    pub job_id: String,
    pub namespace: String,
    pub pipeline: String,
    /// The pipeline's mode (`global.mode` of the values; a values file cannot change it).
    pub mode: crate::ir::Mode,
}

pub fn preprocess(
    ir: &Ir,
    registry: &Registry,
    inputs: &Inputs,
) -> Result<Preprocessed, PreprocessError> {
    let namespace = inputs
        .namespace
        .clone()
        .or_else(|| ir.pipeline.namespace.clone())
        .unwrap_or_else(|| "default".to_string());
    if !is_dns1123_label(&namespace) {
        return Err(PreprocessError::Namespace(namespace));
    }
    if let Some(job_id) = &inputs.job_id
        && !is_dns1123_label(job_id)
    {
        return Err(PreprocessError::JobId(job_id.clone()));
    }
    let generated = generate(ir, registry, inputs).map_err(PreprocessError::Invalid)?;
    let assemble = |mut values: Value, job_id: &str| -> Result<Value, ValuesError> {
        name_components_for_job(&mut values, &ir.pipeline.name, job_id);
        let labels = crate::k8s::ownership::labels(job_id, &ir.pipeline.name);
        let global = values["global"]
            .as_object_mut()
            .expect("generate makes a global mapping");
        global.insert("jobId".into(), json!(job_id));
        global.insert("labels".into(), labels);
        let own_secret = (inputs.artifact_credentials == Mode::FromEnv).then(|| {
            let name = credentials_secret_name(job_id);
            let artifacts = global.entry("artifacts").or_insert_with(|| json!({}));
            if let Some(artifacts) = artifacts.as_object_mut() {
                artifacts.insert("credentialsSecret".into(), json!(name));
            }
            name
        });
        let owned = |values: &Value| {
            globals::RESERVED.map(|key| values.get("global").and_then(|g| g.get(key)).cloned())
        };
        let before = owned(&values);
        for file in &inputs.value_files {
            values::merge(&mut values, file);
        }
        for set in &inputs.sets {
            set.apply(&mut values)?;
        }
        if let Some(name) = own_secret
            && values.pointer("/global/artifacts/credentialsSecret") != Some(&json!(name))
        {
            return Err(ValuesError::CredentialsSecret { name });
        }
        // The job's identity is the executor's: a values file or --set may not rewrite it.
        let after = owned(&values);
        if let Some(key) = globals::RESERVED
            .iter()
            .zip(before.iter().zip(&after))
            .find_map(|(key, (b, a))| (b != a).then_some(key))
        {
            return Err(ValuesError::Reserved {
                key: format!("global.{key}"),
            });
        }
        Ok(values)
    };
    let job_id = match &inputs.job_id {
        Some(job_id) => job_id.clone(),
        None => default_job_id(&ir.pipeline.name, &assemble(generated.clone(), "")?),
    };
    let values = assemble(generated, &job_id)?;
    let yaml = crate::yaml::to_string(&values);
    let digest = crate::digest::sha256_hex(yaml.as_bytes());
    Ok(Preprocessed {
        values,
        yaml,
        digest,
        job_id,
        namespace,
        pipeline: ir.pipeline.name.clone(),
        mode: ir.pipeline.mode,
    })
}

/// The job-owned credentials Secret of `--artifact-credentials from-env`: one per job, so jobs
/// in one namespace never share or delete each other's.
pub fn credentials_secret_name(job_id: &str) -> String {
    bounded_name(&[job_id, "artifact-credentials"], crate::names::MAX_LABEL)
}

/// The same inputs give the same id, so re-running an offline render or an install without an
/// explicit id addresses the same job.
fn default_job_id(pipeline: &str, values_without_id: &Value) -> String {
    let hash = crate::digest::sha256_hex(crate::yaml::to_string(values_without_id).as_bytes());
    format!("{}-{}", bounded_name(&[pipeline], 40), &hash[..8])
}

/// The values generated from the IR (everything but the job id and user overrides).
fn generate(ir: &Ir, registry: &Registry, inputs: &Inputs) -> Result<Value, Diagnostics> {
    let mut diagnostics = Diagnostics::default();
    let pipeline = &ir.pipeline;
    let mut pipeline_parameters = pipeline.parameters.clone();
    pipeline_parameters.extend(inputs.params.clone());

    let mut global = globals::merge(&inputs.globals, &mut diagnostics);
    global.insert(
        "namespace".into(),
        json!(
            inputs
                .namespace
                .clone()
                .or_else(|| pipeline.namespace.clone())
                .unwrap_or_else(|| "default".into())
        ),
    );
    global.insert("pipeline".into(), json!(pipeline.name));
    global.insert("mode".into(), json!(pipeline.mode));

    let mut used_models: BTreeMap<Runtime, BTreeSet<&str>> = BTreeMap::new();
    let mut flows = Vec::new();
    for flow_name in &pipeline.flows {
        let Some(flow) = ir.flows.get(flow_name) else {
            continue;
        };
        let resolved = resolve_flow(flow, &inputs.params, &pipeline.parameters, &mut diagnostics);
        let Some(resolved) = resolved else { continue };
        let mut services = Vec::new();
        let mut steps = Vec::new();
        for (i, step) in resolved.steps.iter().enumerate() {
            match &step.action {
                StepAction::Model(model_name) => match ir.models.get(model_name) {
                    Some(model) => {
                        let runtime = model.format.runtime();
                        used_models.entry(runtime).or_default().insert(&model.name);
                        let service = service_name(&pipeline.name, runtime.name(), "");
                        if !services.contains(&service) {
                            services.push(service.clone());
                        }
                        steps.push(json!({"name": step.name, "model": model_name, "runtime": runtime.name(), "scoringService": service}));
                    }
                    None => {
                        let hint = crate::diagnostics::suggestion(
                            model_name,
                            ir.models.keys().map(String::as_str),
                        );
                        diagnostics.push(
                            &flow.origin,
                            format!("spec.steps[{i}].model"),
                            format!("no Model named `{model_name}`{hint}"),
                        );
                    }
                },
                StepAction::Expression(expression) => {
                    steps.push(json!({"name": step.name, "expression": expression}))
                }
            }
        }
        let source = registry.resolve(&resolved.source, ChannelKind::Source);
        let sink = registry.resolve(&resolved.sink, ChannelKind::Sink);
        for (field, result) in [("spec.source", &source), ("spec.sink", &sink)] {
            if let Err(message) = result {
                diagnostics.push(&flow.origin, field, message.clone());
            }
        }
        let (Ok(source), Ok(sink)) = (source, sink) else {
            continue;
        };
        flows.push(json!({
            "name": scoring_flow_name(&pipeline.name, &flow.name, ""),
            "flow": flow.name,
            "mode": pipeline.mode,
            "replicas": flow.replicas,
            "source": source,
            "sink": sink,
            "parameters": resolved.parameters,
            "steps": steps,
            "scoringServices": services,
        }));
    }

    let services: Vec<Value> = used_models
        .iter()
        .map(|(runtime, models)| {
            scoring_service(
                &pipeline.name,
                *runtime,
                models.iter().map(|m| &ir.models[*m]),
            )
        })
        .collect();
    check_name_collisions(&services, &flows, &pipeline.origin, &mut diagnostics);
    for model in ir.models.values().filter(|m| {
        !used_models
            .values()
            .any(|used| used.contains(m.name.as_str()))
    }) {
        tracing::warn!(model = %model.name, origin = %model.origin, "model is not used by any step of the pipeline's flows; it is not deployed");
    }
    let unused: Vec<&String> = inputs
        .params
        .keys()
        .filter(|k| !params_used(ir, k))
        .collect();
    if !unused.is_empty() {
        tracing::warn!(parameters = ?unused, "--param names that no string of the pipeline references");
    }

    diagnostics.into_result(json!({
        "global": global,
        "pipeline": {"name": pipeline.name, "mode": pipeline.mode, "parameters": pipeline_parameters},
        "scoringServices": services,
        "scoringFlows": flows,
    }))
}

/// A scoring service's name: pipeline + `scoring` + runtime + job, so two jobs of one pipeline in
/// one namespace never share an object (an empty job leaves the job part out).
pub fn service_name(pipeline: &str, runtime: &str, job_id: &str) -> String {
    bounded_name(&[pipeline, "scoring", runtime, job_id], MAX_BASE_NAME)
}

/// A scoring flow's name: pipeline + flow + job (see [`service_name`]).
pub fn scoring_flow_name(pipeline: &str, flow: &str, job_id: &str) -> String {
    bounded_name(&[pipeline, flow, job_id], MAX_BASE_NAME)
}

/// Gives every component the job's name and points every reference at it. `generate` names the
/// components without the job, because the default job id is a hash of the values without it;
/// here the job is known. Within one job the suffix is shared, so names that were distinct (checked
/// by `check_name_collisions`) stay distinct.
fn name_components_for_job(values: &mut Value, pipeline: &str, job_id: &str) {
    let mut renamed: BTreeMap<String, String> = BTreeMap::new();
    for service in values["scoringServices"]
        .as_array_mut()
        .into_iter()
        .flatten()
    {
        if let (Some(runtime), Some(old)) = (service["runtime"].as_str(), service["name"].as_str())
        {
            let new = service_name(pipeline, runtime, job_id);
            renamed.insert(old.to_string(), new.clone());
            service["name"] = json!(new);
        }
    }
    for flow in values["scoringFlows"].as_array_mut().into_iter().flatten() {
        if let Some(flow_id) = flow["flow"].as_str() {
            flow["name"] = json!(scoring_flow_name(pipeline, flow_id, job_id));
        }
        for service in flow["scoringServices"].as_array_mut().into_iter().flatten() {
            if let Some(new) = service.as_str().and_then(|old| renamed.get(old)) {
                *service = json!(new);
            }
        }
        for step in flow["steps"].as_array_mut().into_iter().flatten() {
            if let Some(new) = step["scoringService"]
                .as_str()
                .and_then(|old| renamed.get(old))
            {
                step["scoringService"] = json!(new);
            }
        }
    }
}

fn scoring_service<'m>(
    pipeline: &str,
    runtime: Runtime,
    models: impl Iterator<Item = &'m Model>,
) -> Value {
    let models: Vec<Value> = models
        .map(|m| {
            let mut model = json!({"name": m.name, "format": m.format.name(), "version": m.version, "uri": m.uri});
            if let Some(sha) = &m.sha256 {
                model["sha256"] = json!(sha);
            }
            if let Some(validation) = &m.validation {
                model["validation"] = validation.clone();
            }
            model
        })
        .collect();
    // STATISTICA models run only on Windows nodes.
    let node_selector = if runtime == Runtime::Statistica {
        json!({"kubernetes.io/os": "windows"})
    } else {
        json!({"kubernetes.io/os": "linux"})
    };
    json!({
        "name": service_name(pipeline, runtime.name(), ""),
        "runtime": runtime.name(),
        "models": models,
        "replicas": 1,
        "nodeSelector": node_selector,
        "autoscaling": {"minReplicas": 1, "maxReplicas": 2, "targetCPUUtilizationPercentage": 50},
    })
}

fn check_name_collisions(
    services: &[Value],
    flows: &[Value],
    origin: &Origin,
    diagnostics: &mut Diagnostics,
) {
    let mut seen = BTreeSet::new();
    for item in services.iter().chain(flows) {
        let name = item["name"].as_str().unwrap_or_default();
        if !seen.insert(name) {
            diagnostics.push(
                origin,
                "metadata.name",
                format!(
                    "two components of the pipeline would both be named `{name}`; rename a flow"
                ),
            );
        }
    }
}

/// A flow with every string substituted: flow parameters first (they may reference pipeline and
/// CLI parameters), then everything else with CLI > flow > pipeline precedence.
struct ResolvedFlow {
    source: crate::ir::ChannelRef,
    sink: crate::ir::ChannelRef,
    steps: Vec<crate::ir::Step>,
    parameters: BTreeMap<String, String>,
}

fn resolve_flow(
    flow: &Flow,
    cli: &BTreeMap<String, String>,
    pipeline: &BTreeMap<String, String>,
    diagnostics: &mut Diagnostics,
) -> Option<ResolvedFlow> {
    let before = diagnostics.len();
    let mut sub = |text: &str, field: String, scope: &Scope| -> String {
        substitute(text, scope).unwrap_or_else(|err| {
            diagnostics.push(&flow.origin, field, err.to_string());
            text.to_string()
        })
    };
    let outer = Scope::new(vec![cli, pipeline]);
    let parameters: BTreeMap<String, String> = flow
        .parameters
        .iter()
        .map(|(k, v)| (k.clone(), sub(v, format!("spec.parameters.{k}"), &outer)))
        .collect();
    let scope = Scope::new(vec![cli, &parameters, pipeline]);
    let channel =
        |r: &crate::ir::ChannelRef,
         field: &str,
         sub: &mut dyn FnMut(&str, String, &Scope) -> String| crate::ir::ChannelRef {
            channel: sub(&r.channel, format!("{field}.channel"), &scope),
            format: sub(&r.format, format!("{field}.format"), &scope),
        };
    let source = channel(&flow.source, "spec.source", &mut sub);
    let sink = channel(&flow.sink, "spec.sink", &mut sub);
    let steps = flow
        .steps
        .iter()
        .enumerate()
        .map(|(i, step)| crate::ir::Step {
            name: sub(&step.name, format!("spec.steps[{i}].name"), &scope),
            action: match &step.action {
                StepAction::Model(m) => {
                    StepAction::Model(sub(m, format!("spec.steps[{i}].model"), &scope))
                }
                StepAction::Expression(e) => {
                    StepAction::Expression(sub(e, format!("spec.steps[{i}].expression"), &scope))
                }
            },
        })
        .collect();
    let mut effective = pipeline.clone();
    effective.extend(parameters);
    effective.extend(cli.clone());
    (diagnostics.len() == before).then_some(ResolvedFlow {
        source,
        sink,
        steps,
        parameters: effective,
    })
}

fn params_used(ir: &Ir, name: &str) -> bool {
    let needle = format!("${{{name}}}");
    ir.flows.values().any(|flow| {
        flow.parameters.values().any(|v| v.contains(&needle))
            || [
                &flow.source.channel,
                &flow.source.format,
                &flow.sink.channel,
                &flow.sink.format,
            ]
            .iter()
            .any(|v| v.contains(&needle))
            || flow.steps.iter().any(|s| match &s.action {
                StepAction::Model(t) | StepAction::Expression(t) => {
                    t.contains(&needle) || s.name.contains(&needle)
                }
            })
    }) || ir.pipeline.parameters.contains_key(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::names::is_dns1123_label;

    fn values() -> Value {
        json!({
            "scoringServices": [{"name": "fraud-scoring-pmml", "runtime": "pmml"}],
            "scoringFlows": [{
                "name": "fraud-score", "flow": "score",
                "scoringServices": ["fraud-scoring-pmml"],
                "steps": [{"name": "s", "scoringService": "fraud-scoring-pmml"}, {"name": "e", "expression": "x"}],
            }],
        })
    }

    fn names(values: &Value) -> Vec<String> {
        let mut names = Vec::new();
        for service in values["scoringServices"].as_array().unwrap() {
            names.push(service["name"].as_str().unwrap().to_string());
        }
        for flow in values["scoringFlows"].as_array().unwrap() {
            names.push(flow["name"].as_str().unwrap().to_string());
        }
        names
    }

    #[test]
    fn names_include_the_job_and_references_follow() {
        let mut one = values();
        name_components_for_job(&mut one, "fraud", "run-1");
        assert_eq!(
            names(&one),
            ["fraud-scoring-pmml-run-1", "fraud-score-run-1"]
        );
        let flow = &one["scoringFlows"][0];
        assert_eq!(flow["scoringServices"], json!(["fraud-scoring-pmml-run-1"]));
        assert_eq!(
            flow["steps"][0]["scoringService"],
            "fraud-scoring-pmml-run-1"
        );
        assert_eq!(flow["steps"][1].get("scoringService"), None);
    }

    #[test]
    fn two_jobs_of_one_pipeline_share_no_name_even_when_shortened() {
        let pipeline = "a-pipeline-with-a-rather-long-name";
        let job = |suffix: &str| format!("{pipeline}-run-{suffix}");
        let (mut one, mut two) = (values(), values());
        name_components_for_job(&mut one, pipeline, &job("x7k2p"));
        name_components_for_job(&mut two, pipeline, &job("x7k2q"));
        for (a, b) in names(&one).iter().zip(names(&two)) {
            assert_ne!(*a, b);
            for name in [a, &b] {
                assert!(name.len() <= MAX_BASE_NAME, "{name}");
                assert!(is_dns1123_label(name), "{name}");
                assert!(
                    name.starts_with(|c: char| c.is_ascii_lowercase()),
                    "DNS-1035: {name}"
                );
            }
        }
        // Stable: the same job gives the same names.
        let mut again = values();
        name_components_for_job(&mut again, pipeline, &job("x7k2p"));
        assert_eq!(names(&again), names(&one));
    }

    #[test]
    fn without_a_job_the_names_are_the_pipeline_and_component() {
        let mut values = values();
        name_components_for_job(&mut values, "fraud", "");
        assert_eq!(names(&values), ["fraud-scoring-pmml", "fraud-score"]);
    }
}
