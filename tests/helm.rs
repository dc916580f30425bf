//! Helm users' and chart authors' features through the real binary, without a cluster: the value
//! flags, values.schema.json, chart features and `lint` (issue 18).

use std::path::PathBuf;
use std::process::{Command, Output};

mod common;
use common::root;

const BIN: &str = env!("CARGO_BIN_EXE_modelops-executor");

fn run(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .current_dir(root())
        .env_remove("RUST_LOG")
        .output()
        .expect("the binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `preprocess` (or another input command) of the bundled batch example plus `extra`.
fn batch_example(command: &str, extra: &[&str]) -> Output {
    with_chart(command, "charts/modelops", extra)
}

/// The bundled batch example rendered with another chart.
fn with_chart(command: &str, chart: &str, extra: &[&str]) -> Output {
    let mut args = vec![
        command,
        "--ir",
        "examples/batch-fraud",
        "--channels",
        "examples/channels",
        "--chart",
        chart,
        "--job-id",
        "helm-flags",
    ];
    args.extend_from_slice(extra);
    run(&args)
}

fn values_of(output: &Output) -> serde_json::Value {
    assert!(output.status.success(), "{}", text(&output.stderr));
    serde_norway::from_slice(&output.stdout).expect("preprocess prints YAML")
}

#[test]
fn set_string_set_json_and_set_file_apply_in_helms_order() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("init.sh");
    std::fs::write(&script, "#!/bin/sh\necho 0123\n").unwrap();
    let script_arg = format!("global.extra.script={}", script.display());
    let output = batch_example(
        "preprocess",
        &[
            "--set-file",
            &script_arg,
            "--set-string",
            "global.extra.tag=0123,global.extra.flag=true",
            "--set",
            "global.extra.order=set",
            "--set-json",
            r#"global.extra.order="json",global.extra.env=[{"name":"A","value":"1"}]"#,
        ],
    );
    let values = values_of(&output);
    let extra = &values["global"]["extra"];
    assert_eq!(extra["script"], "#!/bin/sh\necho 0123\n");
    assert_eq!(extra["tag"], "0123");
    assert_eq!(extra["flag"], "true", "--set-string never types");
    assert_eq!(extra["order"], "set", "--set is applied after --set-json");
    assert_eq!(
        extra["env"],
        serde_json::json!([{"name": "A", "value": "1"}])
    );

    // The same flags reach the rendered objects.
    let output = batch_example(
        "render",
        &["--set-json", r#"scoringServices[0].replicas=4"#],
    );
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(text(&output.stdout).contains("minReplicas: 4"));
}

#[test]
fn value_flag_errors_name_the_flag_and_file_and_exit_2() {
    let output = batch_example("preprocess", &["--set-file", "a.b=/nonexistent/secret.txt"]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("--set-file `a.b=/nonexistent/secret.txt`: /nonexistent/secret.txt:"),
        "{stderr}"
    );
    let output = batch_example("render", &["--set-json", "a={oops}"]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("--set-json `a`: `a`: invalid JSON"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("oops"),
        "a value may be a secret: {stderr}"
    );
    assert!(output.stdout.is_empty());
}

/// Writes `files` under `dir`.
fn write_tree(dir: &std::path::Path, files: &[(&str, &str)]) {
    for (path, content) in files {
        let path = dir.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
    }
}

const PARENT_CHART: &str = "apiVersion: v2\nname: parent\nversion: 1.0.0\ndependencies:\n\
- name: child\n  import-values:\n  - {child: greeting, parent: imported}\n  - shared\n\
- {name: extras, tags: [extras]}\n";

const PARENT_TEMPLATE: &str = "apiVersion: v1
kind: ConfigMap
metadata:
  name: parent-{{Release.Name}}
  labels:
    app.kubernetes.io/component: test
data:
  imported: {{quote Values.imported}}
  shared: {{quote Values.color}}
  rendered: {{quote (tpl Values.message this)}}
";

/// A parent chart whose sub-chart `child` is a packaged `.tgz` and whose `extras` is tagged off.
fn parent_chart(dir: &std::path::Path) -> PathBuf {
    let child = dir.join("src/child");
    write_tree(
        &child,
        &[
            (
                "Chart.yaml",
                "apiVersion: v2\nname: child\nversion: 0.1.0\n",
            ),
            (
                "values.yaml",
                "greeting: hello\nexports:\n  shared: {color: blue}\n",
            ),
        ],
    );
    let parent = dir.join("parent");
    write_tree(
        &parent,
        &[
            ("Chart.yaml", PARENT_CHART),
            (
                "values.yaml",
                "tags: {extras: false}\nmessage: \"job {{Release.Name}} in {{Release.Namespace}}\"\n",
            ),
            ("templates/cm.yaml", PARENT_TEMPLATE),
            (
                "charts/extras/Chart.yaml",
                "apiVersion: v2\nname: extras\nversion: 0.1.0\n",
            ),
            (
                "charts/extras/templates/x.yaml",
                "kind: {{ .Values.kind }}\n",
            ),
        ],
    );
    let output = run(&[
        "package",
        &child.display().to_string(),
        "-d",
        &parent.join("charts").display().to_string(),
    ]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(parent.join("charts/child-0.1.0.tgz").is_file());
    parent
}

#[test]
fn tgz_subcharts_tags_import_values_and_tpl_render() {
    let dir = tempfile::tempdir().unwrap();
    let chart = parent_chart(dir.path());
    let chart_arg = chart.display().to_string();
    let output = with_chart("render", &chart_arg, &["--namespace", "ns1"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let rendered = text(&output.stdout);
    assert!(rendered.contains("imported: hello"), "{rendered}");
    assert!(rendered.contains("shared: blue"), "{rendered}");
    assert!(
        rendered.contains("rendered: job helm-flags in ns1"),
        "{rendered}"
    );

    // Tagged on, the extras chart renders, and its Go template syntax is named as such.
    let output = with_chart("render", &chart_arg, &["--set", "tags.extras=true"]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("parent/charts/extras/templates/x.yaml:1:7: this looks like a Go template (`.Field` reference); this engine renders Handlebars templates"),
        "{stderr}"
    );
    assert!(stderr.contains("see charts/README.md"), "{stderr}");
}

#[test]
fn values_schema_rejects_wrong_types_with_path_and_rule() {
    let output = batch_example(
        "render",
        &[
            "--set",
            "scoring-flow.port=http,scoringServices[0].replicas=0",
            "--set-json",
            "scoring-service-pmml.image.tag=2",
        ],
    );
    assert_eq!(output.status.code(), Some(2));
    let stderr = text(&output.stderr);
    for expected in [
        "the values do not match the charts' values.schema.json:",
        "modelops/values.schema.json: `scoringServices[0].replicas`: 0 is less than the minimum of 1 (rule: minimum)",
        "modelops/charts/scoring-flow/values.schema.json: `port`: the value (a string) is not of type \"integer\" (rule: type)",
        "modelops/charts/scoring-service-pmml/values.schema.json: `image.tag`: 2 is not of type \"string\" (rule: type)",
    ] {
        assert!(stderr.contains(expected), "lacks `{expected}`:\n{stderr}");
    }
    assert!(output.stdout.is_empty());
    // A misspelt sub-chart key is caught by the umbrella's schema.
    let output = batch_example("render", &["--set", "scoring-service-pmm.enabled=false"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        text(&output.stderr).contains("'scoring-service-pmm' was unexpected"),
        "{}",
        text(&output.stderr)
    );
}

#[test]
fn lint_passes_the_bundled_chart_with_a_jobs_values_and_fails_a_broken_one() {
    let output = run(&[
        "lint",
        "charts/modelops",
        "-f",
        "tests/golden/batch-fraud/values.yaml",
    ]);
    let stdout = text(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{stdout}{}",
        text(&output.stderr)
    );
    assert!(stdout.contains("0 error(s)"), "{stdout}");

    // Without a job's values the umbrella's templates cannot render: an error that says why.
    let output = run(&["lint", "charts/modelops"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(text(&output.stdout).contains("need a job's values: pass them with -f"));

    let dir = tempfile::tempdir().unwrap();
    let chart = parent_chart(dir.path());
    write_tree(
        &chart,
        &[("templates/typo.yaml", "x: {{toYml Values.message}}\n")],
    );
    let output = run(&["lint", &chart.display().to_string()]);
    let stdout = text(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    for expected in [
        "[ERROR] parent/charts/extras/templates/x.yaml:1:7: this looks like a Go template",
        "[ERROR] parent/templates/typo.yaml: unknown helper `toYml` (did you mean `toYaml`?)",
        "[WARNING] parent/Chart.yaml: a description is recommended",
    ] {
        assert!(stdout.contains(expected), "lacks `{expected}`:\n{stdout}");
    }
}
