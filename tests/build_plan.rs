//! `build-plan` through the real binary: the Pipeline for charts/modelops against its golden file
//! (regenerate with UPDATE_GOLDEN=1; scripts/tekton-validate.sh validates it with Tekton's code),
//! the default chart, `-o`, and errors that name the chart and step with exit code 2.

use std::path::Path;
use std::process::{Command, Output};

mod common;
use common::root;

const BIN: &str = env!("CARGO_BIN_EXE_modelops-executor");
const GOLDEN: &str = "tests/golden/build-plan/pipeline.yaml";

fn run(dir: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .env_remove("RUST_LOG")
        .env_remove("MODELOPS_CHART")
        .output()
        .expect("the binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn golden_pipeline_for_the_modelops_chart() {
    let out = run(&root(), &["build-plan", "--chart", "charts/modelops"]);
    assert!(
        out.status.success(),
        "build-plan failed: {}",
        text(&out.stderr)
    );
    let actual = text(&out.stdout);
    let path = root().join(GOLDEN);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|_| panic!("{GOLDEN} is missing; run with UPDATE_GOLDEN=1"));
    if actual != expected {
        let line = actual
            .lines()
            .zip(expected.lines())
            .position(|(a, e)| a != e)
            .map_or(
                actual.lines().count().min(expected.lines().count()) + 1,
                |i| i + 1,
            );
        panic!(
            "{GOLDEN} differs from the output at line {line}; if the change is intended, rerun with UPDATE_GOLDEN=1"
        );
    }
}

#[test]
fn pipeline_orders_every_declared_step_after_its_dependencies() {
    let out = run(&root(), &["build-plan", "--chart", "charts/modelops"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let pipeline: serde_json::Value = serde_norway::from_slice(&out.stdout).unwrap();
    assert_eq!(pipeline["apiVersion"], "tekton.dev/v1");
    assert_eq!(pipeline["kind"], "Pipeline");
    assert_eq!(pipeline["metadata"]["name"], "modelops-build");
    let tasks = pipeline["spec"]["tasks"].as_array().unwrap();
    let mut seen: Vec<&str> = Vec::new();
    for task in tasks {
        let name = task["name"].as_str().unwrap();
        for dependency in task
            .get("runAfter")
            .and_then(|r| r.as_array())
            .into_iter()
            .flatten()
        {
            let dependency = dependency.as_str().unwrap();
            assert!(
                seen.contains(&dependency),
                "{name} runs after {dependency}, which comes later"
            );
        }
        seen.push(name);
    }
    // Every step declared in a sub-chart's values.yaml is planned, once.
    let mut declared = 0;
    for entry in std::fs::read_dir(root().join("charts/modelops/charts")).unwrap() {
        let path = entry.unwrap().path().join("values.yaml");
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        let values: serde_json::Value = serde_norway::from_str(&text).unwrap();
        for step in values
            .pointer("/build/steps")
            .and_then(|s| s.as_array())
            .into_iter()
            .flatten()
        {
            declared += 1;
            let name = step["name"].as_str().unwrap();
            assert_eq!(
                seen.iter().filter(|s| **s == name).count(),
                1,
                "step {name} of {}",
                path.display()
            );
        }
    }
    assert_eq!(declared, tasks.len());
    assert!(declared > 1, "charts/modelops declares build steps");
}

#[test]
fn default_chart_and_output_file() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("plan.yaml");
    // Without --chart, ./charts/modelops is used.
    let out = run(&root(), &["build-plan", "-o", file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(out.stdout.is_empty());
    let written = std::fs::read_to_string(&file).unwrap();
    let stdout = text(&run(&root(), &["build-plan", "--chart", "charts/modelops"]).stdout);
    assert_eq!(written, stdout);
    // From a directory without a chart, and no --chart: a usage error.
    let out = run(tmp.path(), &["build-plan"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
}

/// A chart whose sub-charts' steps form a cycle, and one that depends on a missing step.
fn write_chart(dir: &Path, steps: &[(&str, &str)]) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(
        dir.join("Chart.yaml"),
        "apiVersion: v2\nname: umbrella\nversion: 1.0.0\n",
    )
    .unwrap();
    for (chart, values) in steps {
        let sub = dir.join("charts").join(chart);
        std::fs::create_dir_all(&sub).unwrap();
        std::fs::write(
            sub.join("Chart.yaml"),
            format!("apiVersion: v2\nname: {chart}\nversion: 1.0.0\n"),
        )
        .unwrap();
        std::fs::write(sub.join("values.yaml"), values).unwrap();
    }
}

#[test]
fn cycle_and_missing_step_are_bad_input_naming_chart_and_step() {
    let tmp = tempfile::tempdir().unwrap();
    let cyclic = tmp.path().join("cyclic");
    write_chart(
        &cyclic,
        &[
            (
                "base",
                "build:\n  steps:\n    - {name: base, context: base, image: acme/base, dependsOn: [app]}\n",
            ),
            (
                "app",
                "build:\n  steps:\n    - {name: app, context: app, image: acme/app, dependsOn: [base]}\n",
            ),
        ],
    );
    let out = run(
        tmp.path(),
        &["build-plan", "--chart", cyclic.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(
        stderr
            .contains("cycle: `app` (umbrella/charts/app) → `base` (umbrella/charts/base) → `app`"),
        "{stderr}"
    );
    assert!(out.stdout.is_empty());

    let missing = tmp.path().join("missing");
    write_chart(
        &missing,
        &[(
            "app",
            "build:\n  steps:\n    - {name: app, context: app, image: acme/app, dependsOn: [runtime]}\n",
        )],
    );
    let out = run(
        tmp.path(),
        &["build-plan", "--chart", missing.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(
            "umbrella/charts/app: build step `app` depends on `runtime`, which no chart declares"
        ),
        "{stderr}"
    );
}
