//! `build-plan`: the container builds that the sub-charts declare, in dependency order, as a
//! Tekton Pipeline (charts/README.md). Pure: reads a loaded chart tree, returns a plan.
//!
//! Every chart of the tree (enabled or not: the platform charts are disabled for scoring jobs but
//! their images still have to be built) may declare in its `values.yaml`:
//!
//! ```yaml
//! build:
//!   steps:
//!     - {name: scoring-flow, context: images/scoring-flow, dockerfile: Dockerfile,
//!        image: modelops/scoring-flow, dependsOn: [streaming-runtime-base]}
//! ```
//!
//! Step names are unique across the tree and become Pipeline task names; `dependsOn` names steps
//! of any chart and becomes `runAfter`. The order is topological with ties broken by name, so the
//! same charts always give the same Pipeline.

use crate::chart::Chart;
use crate::names::is_dns1123_label;
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// The Pipeline's name.
pub const PIPELINE_NAME: &str = "modelops-build";
/// The image builder run by every task (kaniko's executor; a `builder-image` parameter overrides it).
pub const DEFAULT_BUILDER_IMAGE: &str = "gcr.io/kaniko-project/executor:v1.23.2";
const DEFAULT_DOCKERFILE: &str = "Dockerfile";

/// Why a build plan cannot be made. Each message names the chart and the step.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BuildPlanError {
    #[error("{chart}: values.yaml: `build` {reason}")]
    InvalidBuild { chart: String, reason: String },
    #[error("{chart}: values.yaml: build step {step}: {reason}")]
    InvalidStep {
        chart: String,
        step: String,
        reason: String,
    },
    #[error("{chart}: values.yaml: build step {step}: `{field}` is required")]
    MissingField {
        chart: String,
        step: String,
        field: &'static str,
    },
    #[error(
        "build step `{step}` is declared twice: in {first_chart} and in {second_chart} (step names are unique across all charts)"
    )]
    DuplicateStep {
        step: String,
        first_chart: String,
        second_chart: String,
    },
    #[error("{chart}: build step `{step}` depends on `{dependency}`, which no chart declares{}", suggestion.as_ref().map(|s| format!(" (did you mean `{s}`?)")).unwrap_or_default())]
    MissingDependency {
        chart: String,
        step: String,
        dependency: String,
        suggestion: Option<String>,
    },
    #[error("build steps depend on each other in a cycle: {}", Cycle(.cycle))]
    Cycle {
        /// `(chart, step)` pairs; each depends on the next and the last on the first.
        cycle: Vec<(String, String)>,
    },
    #[error("no chart of `{chart}` declares build steps (`build.steps` in a values.yaml)")]
    NoSteps { chart: String },
    #[error("{} problems with the build steps:{}", .0.len(), .0.iter().map(|e| format!("\n  - {e}")).collect::<String>())]
    Multiple(Vec<BuildPlanError>),
}

struct Cycle<'a>(&'a [(String, String)]);

impl fmt::Display for Cycle<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (chart, step) in self.0 {
            write!(f, "`{step}` ({chart}) → ")?;
        }
        match self.0.first() {
            Some((_, step)) => write!(f, "`{step}` (→ means \"depends on\")"),
            None => Ok(()),
        }
    }
}

/// One container build, as declared by a chart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildStep {
    /// The declaring chart's path in the tree (`modelops/charts/scoring-flow`).
    pub chart: String,
    pub name: String,
    /// Build context, relative to the source workspace.
    pub context: String,
    /// Dockerfile, relative to the context.
    pub dockerfile: String,
    /// Image repository, without registry host or tag (both are Pipeline parameters).
    pub image: String,
    /// Sorted, without duplicates.
    pub depends_on: Vec<String>,
}

/// The ordered builds of a chart tree.
#[derive(Debug, Clone, PartialEq)]
pub struct BuildPlan {
    pub chart_name: String,
    pub chart_version: String,
    /// Default registry host (the umbrella's `global.registry.host`).
    pub registry: Option<String>,
    /// Default image tag (the umbrella's appVersion, else its version).
    pub tag: String,
    /// In build order: every step after all of its dependencies.
    pub steps: Vec<BuildStep>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBuild {
    #[serde(default)]
    steps: Option<Vec<Value>>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawStep {
    name: Option<String>,
    context: Option<String>,
    dockerfile: Option<String>,
    image: Option<String>,
    #[serde(default)]
    depends_on: Option<Vec<String>>,
}

/// Collects, validates and orders the build steps of every chart of the tree.
pub fn plan(chart: &Chart) -> Result<BuildPlan, BuildPlanError> {
    let steps = collect(chart)?;
    if steps.is_empty() {
        return Err(BuildPlanError::NoSteps {
            chart: chart.path.clone(),
        });
    }
    let steps = order(steps)?;
    let registry = chart
        .defaults
        .pointer("/global/registry/host")
        .and_then(Value::as_str)
        .filter(|h| !h.is_empty())
        .map(str::to_string);
    let tag = chart
        .meta
        .app_version
        .clone()
        .unwrap_or_else(|| chart.meta.version.clone());
    Ok(BuildPlan {
        chart_name: chart.meta.name.clone(),
        chart_version: chart.meta.version.clone(),
        registry,
        tag,
        steps,
    })
}

/// Every chart's `build.steps`, parent charts first, each chart's steps in declared order; all
/// field and duplicate errors together.
pub fn collect(chart: &Chart) -> Result<Vec<BuildStep>, BuildPlanError> {
    let mut errors = Vec::new();
    let mut steps: Vec<BuildStep> = Vec::new();
    for chart in chart.walk() {
        for step in chart_steps(chart, &mut errors) {
            match steps.iter().find(|s| s.name == step.name) {
                Some(first) => errors.push(BuildPlanError::DuplicateStep {
                    step: step.name.clone(),
                    first_chart: first.chart.clone(),
                    second_chart: step.chart.clone(),
                }),
                None => steps.push(step),
            }
        }
    }
    into_result(steps, errors)
}

fn chart_steps(chart: &Chart, errors: &mut Vec<BuildPlanError>) -> Vec<BuildStep> {
    let Some(build) = chart.defaults.get("build") else {
        return Vec::new();
    };
    let invalid_build = |reason: String| BuildPlanError::InvalidBuild {
        chart: chart.path.clone(),
        reason,
    };
    if build.is_null() {
        return Vec::new();
    }
    let raw: RawBuild = match serde_json::from_value(build.clone()) {
        Ok(raw) => raw,
        Err(err) => {
            errors.push(invalid_build(format!(
                "must be a mapping with `steps`: {err}"
            )));
            return Vec::new();
        }
    };
    let mut steps = Vec::new();
    for (index, value) in raw.steps.unwrap_or_default().into_iter().enumerate() {
        // Name the step in messages by its name when it has one, else by its position.
        let label = match value.get("name").and_then(Value::as_str) {
            Some(name) if !name.is_empty() => format!("`{name}`"),
            _ => format!("#{}", index + 1),
        };
        let invalid = |reason: String| BuildPlanError::InvalidStep {
            chart: chart.path.clone(),
            step: label.clone(),
            reason,
        };
        let raw: RawStep = match serde_json::from_value(value) {
            Ok(raw) => raw,
            Err(err) => {
                errors.push(invalid(err.to_string()));
                continue;
            }
        };
        let mut required = |field: &'static str, value: Option<String>| match value
            .filter(|v| !v.trim().is_empty())
        {
            Some(value) => Some(value),
            None => {
                errors.push(BuildPlanError::MissingField {
                    chart: chart.path.clone(),
                    step: label.clone(),
                    field,
                });
                None
            }
        };
        let (Some(name), Some(context), Some(image)) = (
            required("name", raw.name),
            required("context", raw.context),
            required("image", raw.image),
        ) else {
            continue;
        };
        let dockerfile = raw
            .dockerfile
            .filter(|d| !d.trim().is_empty())
            .unwrap_or_else(|| DEFAULT_DOCKERFILE.to_string());
        let mut problems = Vec::new();
        if !is_dns1123_label(&name) {
            problems.push(format!(
                "name `{name}` must be a DNS-1123 label (lower-case letters, digits and '-', at most 63): it becomes a Tekton task name"
            ));
        }
        for (field, path) in [("context", &context), ("dockerfile", &dockerfile)] {
            if let Some(reason) = relative_path_problem(path) {
                problems.push(format!("{field} `{path}` {reason}"));
            }
        }
        if let Some(reason) = image_problem(&image) {
            problems.push(format!("image `{image}` {reason}"));
        }
        let depends_on: BTreeSet<String> = raw.depends_on.unwrap_or_default().into_iter().collect();
        if depends_on.contains(&name) {
            problems.push("depends on itself".to_string());
        }
        if !problems.is_empty() {
            errors.extend(problems.into_iter().map(invalid));
            continue;
        }
        steps.push(BuildStep {
            chart: chart.path.clone(),
            name,
            context,
            dockerfile,
            image,
            depends_on: depends_on.into_iter().collect(),
        });
    }
    steps
}

fn relative_path_problem(path: &str) -> Option<&'static str> {
    if path.starts_with('/') {
        Some("must be relative to the source workspace")
    } else if path.split('/').any(|part| part == "..") {
        Some("must not leave the source workspace (`..`)")
    } else if path.contains("$(") {
        Some("must not contain Tekton substitutions")
    } else {
        None
    }
}

fn image_problem(image: &str) -> Option<&'static str> {
    let last = image.rsplit('/').next().unwrap_or(image);
    if image.contains('@') || last.contains(':') {
        Some(
            "must be a repository without tag or digest (the Pipeline's `tag` parameter is appended)",
        )
    } else if image.starts_with('/')
        || image.ends_with('/')
        || image.contains("//")
        || image.chars().any(char::is_whitespace)
    {
        Some("is not an image repository")
    } else if image.chars().any(|c| c.is_ascii_uppercase()) {
        Some("must be lower-case")
    } else {
        None
    }
}

fn into_result<T>(value: T, mut errors: Vec<BuildPlanError>) -> Result<T, BuildPlanError> {
    match errors.len() {
        0 => Ok(value),
        1 => Err(errors.remove(0)),
        _ => Err(BuildPlanError::Multiple(errors)),
    }
}

/// Orders steps so that each comes after everything it depends on; among steps that are ready at
/// the same time, by name. Missing dependencies are reported together; a cycle by its path.
pub fn order(steps: Vec<BuildStep>) -> Result<Vec<BuildStep>, BuildPlanError> {
    let by_name: BTreeMap<&str, &BuildStep> = steps.iter().map(|s| (s.name.as_str(), s)).collect();
    let mut errors = Vec::new();
    for step in &steps {
        for dependency in step
            .depends_on
            .iter()
            .filter(|d| !by_name.contains_key(d.as_str()))
        {
            errors.push(BuildPlanError::MissingDependency {
                chart: step.chart.clone(),
                step: step.name.clone(),
                dependency: dependency.clone(),
                suggestion: closest(dependency, by_name.keys().copied()),
            });
        }
    }
    into_result((), errors)?;

    // Kahn's algorithm over "dependency before dependant", the ready set kept sorted by name.
    let mut waiting: BTreeMap<&str, usize> = steps
        .iter()
        .map(|s| (s.name.as_str(), s.depends_on.len()))
        .collect();
    let mut dependants: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for step in &steps {
        for dependency in &step.depends_on {
            dependants
                .entry(dependency.as_str())
                .or_default()
                .push(step.name.as_str());
        }
    }
    let mut ready: BTreeSet<&str> = waiting
        .iter()
        .filter(|(_, n)| **n == 0)
        .map(|(name, _)| *name)
        .collect();
    let mut ordered: Vec<BuildStep> = Vec::with_capacity(steps.len());
    while let Some(name) = ready.pop_first() {
        waiting.remove(name);
        ordered.push(by_name[name].clone());
        for dependant in dependants.get(name).into_iter().flatten() {
            let count = waiting
                .get_mut(dependant)
                .expect("a dependant is still waiting");
            *count -= 1;
            if *count == 0 {
                ready.insert(dependant);
            }
        }
    }
    if waiting.is_empty() {
        return Ok(ordered);
    }
    Err(BuildPlanError::Cycle {
        cycle: find_cycle(&by_name, &waiting.keys().copied().collect()),
    })
}

/// Every step left over by Kahn's algorithm waits on another left-over step, so following the
/// (smallest) left-over dependency from any of them must come back round: that loop is the cycle,
/// reported from its smallest name.
fn find_cycle(
    by_name: &BTreeMap<&str, &BuildStep>,
    left: &BTreeSet<&str>,
) -> Vec<(String, String)> {
    let mut path: Vec<&str> = Vec::new();
    let mut current = *left.first().expect("a cycle leaves steps over");
    while !path.contains(&current) {
        path.push(current);
        current = by_name[current]
            .depends_on
            .iter()
            .map(String::as_str)
            .find(|d| left.contains(d))
            .expect("a left-over step waits on a left-over step");
    }
    let start = path.iter().position(|n| *n == current).unwrap_or(0);
    let mut cycle: Vec<&str> = path[start..].to_vec();
    let smallest = cycle
        .iter()
        .enumerate()
        .min_by_key(|(_, n)| **n)
        .map(|(i, _)| i)
        .unwrap_or(0);
    cycle.rotate_left(smallest);
    cycle
        .into_iter()
        .map(|n| (by_name[n].chart.clone(), n.to_string()))
        .collect()
}

fn closest<'a>(wanted: &str, names: impl Iterator<Item = &'a str>) -> Option<String> {
    names
        .map(|name| (strsim::levenshtein(wanted, name), name))
        .filter(|(distance, name)| *distance <= 3.max(name.len() / 4))
        .min()
        .map(|(_, name)| name.to_string())
}

impl BuildPlan {
    /// The Tekton Pipeline: one task per step in build order, `runAfter` from `dependsOn`, each
    /// task an embedded kaniko build (no Task has to be installed besides the Pipeline).
    pub fn to_pipeline(&self) -> Value {
        let mut registry = json!({
            "name": "registry",
            "type": "string",
            "description": "Registry host (and path prefix) the images are pushed to.",
        });
        if let Some(host) = &self.registry {
            registry["default"] = json!(host);
        }
        let params = json!([
            registry,
            {"name": "tag", "type": "string", "default": self.tag, "description": "Tag of every image."},
            {"name": "builder-image", "type": "string", "default": DEFAULT_BUILDER_IMAGE, "description": "The image builder (kaniko's executor, or a compatible one)."},
        ]);
        let tasks: Vec<Value> = self.steps.iter().map(task).collect();
        let results: Vec<Value> = self
            .steps
            .iter()
            .map(|s| {
                json!({
                    "name": format!("{}-digest", s.name),
                    "type": "string",
                    "description": format!("Digest of {}:$(params.tag).", s.image),
                    "value": format!("$(tasks.{}.results.IMAGE_DIGEST)", s.name),
                })
            })
            .collect();
        let order: Vec<&str> = self.steps.iter().map(|s| s.name.as_str()).collect();
        json!({
            "apiVersion": "tekton.dev/v1",
            "kind": "Pipeline",
            "metadata": {
                "name": PIPELINE_NAME,
                "labels": {
                    "app.kubernetes.io/managed-by": "modelops-executor",
                    "app.kubernetes.io/part-of": "modelops",
                },
                "annotations": {
                    "modelops.io/chart": self.chart_name,
                    "modelops.io/chart-version": self.chart_version,
                },
            },
            "spec": {
                "description": format!(
                    "Builds and pushes the container images declared by the charts of {} {} ({} images, in dependency order: {}).",
                    self.chart_name,
                    self.chart_version,
                    self.steps.len(),
                    order.join(", ")
                ),
                "params": params,
                "workspaces": [
                    {"name": "source", "description": "The source tree holding every build context (paths are relative to it)."},
                    {"name": "docker-config", "description": "Registry credentials (a config.json) for pushing.", "optional": true},
                ],
                "tasks": tasks,
                "results": results,
            },
        })
    }

    /// The Pipeline as a YAML document with a header naming its source.
    pub fn to_yaml(&self) -> String {
        format!(
            "# Generated by `modelops-executor build-plan` from chart {} {}: the build steps of its charts\n# in dependency order. Do not edit; regenerate.\n{}",
            self.chart_name,
            self.chart_version,
            crate::yaml::to_string(&self.to_pipeline())
        )
    }
}

fn task(step: &BuildStep) -> Value {
    let mut task = Map::new();
    task.insert("name".into(), json!(step.name));
    if !step.depends_on.is_empty() {
        task.insert("runAfter".into(), json!(step.depends_on));
    }
    task.insert(
        "params".into(),
        json!([
            {"name": "context", "value": step.context},
            {"name": "dockerfile", "value": step.dockerfile},
            {"name": "image", "value": format!("$(params.registry)/{}:$(params.tag)", step.image)},
            {"name": "builder-image", "value": "$(params.builder-image)"},
        ]),
    );
    task.insert(
        "workspaces".into(),
        json!([
            {"name": "source", "workspace": "source"},
            {"name": "docker-config", "workspace": "docker-config"},
        ]),
    );
    task.insert("taskSpec".into(), build_task_spec(&step.chart));
    Value::Object(task)
}

/// A kaniko build of one image. kaniko unpacks base images over its own root filesystem, so it
/// runs as root inside its container (no privileges, no host access).
fn build_task_spec(chart: &str) -> Value {
    json!({
        "metadata": {"annotations": {"modelops.io/chart": chart}},
        "params": [
            {"name": "context", "type": "string", "description": "Build context, relative to the source workspace."},
            {"name": "dockerfile", "type": "string", "description": "Dockerfile, relative to the context."},
            {"name": "image", "type": "string", "description": "Image reference to push."},
            {"name": "builder-image", "type": "string", "description": "The image builder."},
        ],
        "workspaces": [
            {"name": "source", "readOnly": true},
            {"name": "docker-config", "optional": true, "readOnly": true, "mountPath": "/kaniko/.docker"},
        ],
        "results": [{"name": "IMAGE_DIGEST", "type": "string", "description": "Digest of the pushed image."}],
        "steps": [{
            "name": "build-and-push",
            "image": "$(params.builder-image)",
            "args": [
                "--context=$(workspaces.source.path)/$(params.context)",
                "--dockerfile=$(workspaces.source.path)/$(params.context)/$(params.dockerfile)",
                "--destination=$(params.image)",
                "--digest-file=$(results.IMAGE_DIGEST.path)",
                "--reproducible",
            ],
            "securityContext": {
                "runAsUser": 0,
                "allowPrivilegeEscalation": false,
            },
        }],
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::archive::{File, Files};

    /// An umbrella chart with one sub-chart per `(chart, values.yaml)` entry.
    fn tree(subcharts: &[(&str, &str)]) -> Chart {
        let mut files = vec![
            File {
                path: "Chart.yaml".into(),
                bytes: b"apiVersion: v2\nname: top\nversion: 2.0.0\nappVersion: \"2.1\"\n".to_vec(),
            },
            File {
                path: "values.yaml".into(),
                bytes: b"global: {registry: {host: reg.example.com}}\n".to_vec(),
            },
        ];
        for (name, values) in subcharts {
            files.push(File {
                path: format!("charts/{name}/Chart.yaml"),
                bytes: format!("apiVersion: v2\nname: {name}\nversion: 0.1.0\n").into_bytes(),
            });
            files.push(File {
                path: format!("charts/{name}/values.yaml"),
                bytes: values.as_bytes().to_vec(),
            });
        }
        Chart::from_files(
            &Files {
                origin: "top".into(),
                files,
            },
            None,
        )
        .unwrap()
    }

    fn step(name: &str, deps: &[&str]) -> String {
        format!(
            "    - {{name: {name}, context: images/{name}, dockerfile: Dockerfile, image: acme/{name}, dependsOn: [{}]}}\n",
            deps.join(", ")
        )
    }

    fn names(plan: &BuildPlan) -> Vec<&str> {
        plan.steps.iter().map(|s| s.name.as_str()).collect()
    }

    #[test]
    fn orders_by_dependencies_then_name() {
        let chart = tree(&[
            (
                "zeta",
                &format!(
                    "build:\n  steps:\n{}{}",
                    step("base", &[]),
                    step("tools", &[])
                ),
            ),
            (
                "alpha",
                &format!(
                    "build:\n  steps:\n{}{}",
                    step("server", &["runtime", "tools"]),
                    step("runtime", &["base"])
                ),
            ),
            (
                "mid",
                &format!("build:\n  steps:\n{}", step("app", &["base"])),
            ),
            ("none", "replicas: 1\n"),
        ]);
        let plan = plan(&chart).unwrap();
        // base and tools are ready first (by name); app and runtime once base is built; server last.
        assert_eq!(names(&plan), ["base", "app", "runtime", "tools", "server"]);
        assert_eq!(plan.registry.as_deref(), Some("reg.example.com"));
        assert_eq!(plan.tag, "2.1");
        assert_eq!(plan.steps[4].chart, "top/charts/alpha");
        assert_eq!(plan.steps[4].depends_on, ["runtime", "tools"]);
    }

    #[test]
    fn same_charts_give_the_same_pipeline() {
        let values = format!(
            "build:\n  steps:\n{}{}{}",
            step("c", &["a"]),
            step("b", &["a"]),
            step("a", &[])
        );
        let first = plan(&tree(&[("x", &values)])).unwrap().to_yaml();
        let again = plan(&tree(&[("x", &values)])).unwrap().to_yaml();
        assert_eq!(first, again);
        assert!(
            first.starts_with("# Generated by `modelops-executor build-plan`"),
            "{first}"
        );
    }

    #[test]
    fn pipeline_has_run_after_edges_and_parameters() {
        let chart = tree(&[(
            "x",
            &format!(
                "build:\n  steps:\n{}{}",
                step("base", &[]),
                step("app", &["base"])
            ),
        )]);
        let pipeline = plan(&chart).unwrap().to_pipeline();
        assert_eq!(pipeline["kind"], "Pipeline");
        assert_eq!(pipeline["metadata"]["name"], PIPELINE_NAME);
        let tasks = pipeline["spec"]["tasks"].as_array().unwrap();
        assert_eq!(tasks[0]["name"], "base");
        assert!(tasks[0].get("runAfter").is_none());
        assert_eq!(tasks[1]["runAfter"], json!(["base"]));
        assert_eq!(
            tasks[1]["params"][2],
            json!({"name": "image", "value": "$(params.registry)/acme/app:$(params.tag)"})
        );
        assert_eq!(pipeline["spec"]["params"][0]["default"], "reg.example.com");
        assert_eq!(
            pipeline["spec"]["results"][1]["value"],
            "$(tasks.app.results.IMAGE_DIGEST)"
        );
    }

    #[test]
    fn cycle_is_reported_with_its_path() {
        let chart = tree(&[
            (
                "one",
                &format!(
                    "build:\n  steps:\n{}{}",
                    step("b", &["c"]),
                    step("root", &[])
                ),
            ),
            (
                "two",
                &format!(
                    "build:\n  steps:\n{}{}",
                    step("c", &["d"]),
                    step("d", &["b", "root"])
                ),
            ),
            ("three", &format!("build:\n  steps:\n{}", step("e", &["d"]))),
        ]);
        let err = plan(&chart).unwrap_err();
        assert_eq!(
            err,
            BuildPlanError::Cycle {
                cycle: vec![
                    ("top/charts/one".into(), "b".into()),
                    ("top/charts/two".into(), "c".into()),
                    ("top/charts/two".into(), "d".into())
                ]
            }
        );
        assert_eq!(
            err.to_string(),
            "build steps depend on each other in a cycle: `b` (top/charts/one) → `c` (top/charts/two) → `d` (top/charts/two) → `b` (→ means \"depends on\")"
        );
    }

    #[test]
    fn self_dependency_is_an_error() {
        let err = plan(&tree(&[(
            "one",
            &format!("build:\n  steps:\n{}", step("a", &["a"])),
        )]))
        .unwrap_err()
        .to_string();
        assert_eq!(
            err,
            "top/charts/one: values.yaml: build step `a`: depends on itself"
        );
    }

    #[test]
    fn missing_dependency_names_chart_step_and_suggestion() {
        let chart = tree(&[(
            "one",
            &format!(
                "build:\n  steps:\n{}{}",
                step("runtime-base", &[]),
                step("app", &["runtime-bsae", "gone-entirely"])
            ),
        )]);
        let err = plan(&chart).unwrap_err();
        let BuildPlanError::Multiple(errors) = &err else {
            panic!("{err:?}")
        };
        assert_eq!(
            errors[0].to_string(),
            "top/charts/one: build step `app` depends on `gone-entirely`, which no chart declares"
        );
        assert_eq!(
            errors[1].to_string(),
            "top/charts/one: build step `app` depends on `runtime-bsae`, which no chart declares (did you mean `runtime-base`?)"
        );
        assert!(
            err.to_string()
                .starts_with("2 problems with the build steps:\n  - "),
            "{err}"
        );
    }

    #[test]
    fn duplicate_step_names_both_charts() {
        let chart = tree(&[
            ("one", &format!("build:\n  steps:\n{}", step("a", &[]))),
            ("two", &format!("build:\n  steps:\n{}", step("a", &[]))),
        ]);
        assert_eq!(
            plan(&chart).unwrap_err(),
            BuildPlanError::DuplicateStep {
                step: "a".into(),
                first_chart: "top/charts/one".into(),
                second_chart: "top/charts/two".into()
            }
        );
    }

    #[test]
    fn required_fields_unknown_fields_and_bad_values_are_reported_together() {
        let values = "build:\n  steps:\n    - {name: a, image: acme/a}\n    - {context: x, image: acme/y}\n    - {name: b, context: b, image: acme/b, dependOn: [a]}\n    - {name: C_, context: /abs, image: 'acme/c:1.0'}\n";
        let err = plan(&tree(&[("one", values)])).unwrap_err();
        let BuildPlanError::Multiple(errors) = &err else {
            panic!("{err:?}")
        };
        let messages: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert_eq!(
            messages[0],
            "top/charts/one: values.yaml: build step `a`: `context` is required"
        );
        assert_eq!(
            messages[1],
            "top/charts/one: values.yaml: build step #2: `name` is required"
        );
        assert!(
            messages[2].starts_with(
                "top/charts/one: values.yaml: build step `b`: unknown field `dependOn`"
            ),
            "{}",
            messages[2]
        );
        assert!(
            messages[3].contains("build step `C_`: name `C_` must be a DNS-1123 label"),
            "{}",
            messages[3]
        );
        assert!(
            messages[4].contains("context `/abs` must be relative"),
            "{}",
            messages[4]
        );
        assert!(
            messages[5].contains("image `acme/c:1.0` must be a repository without tag"),
            "{}",
            messages[5]
        );
        assert_eq!(messages.len(), 6, "{messages:#?}");
    }

    #[test]
    fn malformed_build_block_and_no_steps() {
        let err = plan(&tree(&[("one", "build: [a]\n")]))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("top/charts/one: values.yaml: `build` must be a mapping with `steps`"),
            "{err}"
        );
        let err = plan(&tree(&[("one", "replicas: 2\n")])).unwrap_err();
        assert_eq!(
            err,
            BuildPlanError::NoSteps {
                chart: "top".into()
            }
        );
    }

    #[test]
    fn dockerfile_defaults_and_duplicate_dependencies_collapse() {
        let values = "build:\n  steps:\n    - {name: a, context: a, image: acme/a}\n    - {name: b, context: b, image: acme/b, dependsOn: [a, a]}\n";
        let plan = plan(&tree(&[("one", values)])).unwrap();
        assert_eq!(plan.steps[0].dockerfile, "Dockerfile");
        assert_eq!(plan.steps[1].depends_on, ["a"]);
    }
}
