//! Helm users' and chart authors' features through the real binary, without a cluster: the value
//! flags, values.schema.json, chart features and `lint` (issue 18).

use std::path::PathBuf;
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_modelops-executor");

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

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
    let mut args = vec![
        command,
        "--ir",
        "examples/batch-fraud",
        "--channels",
        "examples/channels",
        "--chart",
        "charts/modelops",
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
    assert!(
        text(&output.stderr).contains("--set-json `a={oops}`: `a`: invalid JSON"),
        "{}",
        text(&output.stderr)
    );
    assert!(output.stdout.is_empty());
}
