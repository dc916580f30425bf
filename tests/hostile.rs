//! Hostile input (issue 11): what an attacker or a careless user writes into the IR, globals,
//! channels, parameters, `--set` or `-f` never changes the structure of a rendered object,
//! never crashes or hangs the binary, and is never silently rewritten.

use modelops_executor::chart::Chart;
use modelops_executor::render::{self, Release};
use modelops_executor::yaml::{self, Scalars};
use proptest::prelude::*;
use serde_json::Value;
use std::process::{Command, Output};
use std::sync::OnceLock;

mod common;
use common::root;

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_modelops-executor"))
        .args(args)
        .current_dir(root())
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// `render` of the batch-fraud example with extra arguments.
fn render_example(extra: &[&str]) -> Output {
    render_example_with_chart("charts/modelops", extra)
}

fn render_example_with_chart(chart: &str, extra: &[&str]) -> Output {
    let mut args = vec![
        "render",
        "--ir",
        "examples/batch-fraud",
        "--channels",
        "examples/channels",
        "--chart",
        chart,
    ];
    args.extend_from_slice(extra);
    run(&args)
}

fn temp_file(name: &str, text: &str) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    let path = path.display().to_string();
    (dir, path)
}

#[test]
fn a_pull_secret_cannot_inject_pod_spec_fields() {
    let (_dir, globals) = temp_file(
        "globals.yaml",
        "registry:\n  imagePullSecrets:\n    - \"pull\\n      hostNetwork: true\\n      hostPID: true\"\n",
    );
    let output = render_example(&["--globals", &globals]);
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(2), "{err}");
    assert!(output.stdout.is_empty());
    assert!(
        err.contains("changes the structure") && err.contains("scoring-service.yaml"),
        "{err}"
    );
}

#[test]
fn values_holding_yaml_syntax_stay_one_scalar() {
    // `[a, b]`, `*alias`, `&anchor` and `'quotes'` written plain are text, not YAML.
    let output = render_example(&[
        "--set",
        "global.registry.imagePullSecrets[0]=[a\\, b]",
        "--param",
        "threshold=*alias",
    ]);
    let out = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(out.contains("- name: '[a, b]'"), "{out}");
}

/// The merged values of the batch-fraud example (what `render` hands the templates).
fn job_values() -> &'static Value {
    static VALUES: OnceLock<Value> = OnceLock::new();
    VALUES.get_or_init(|| {
        let output = run(&[
            "preprocess",
            "--ir",
            "examples/batch-fraud",
            "--channels",
            "examples/channels",
            "--globals",
            "examples/globals.yaml",
        ]);
        assert!(output.status.success(), "{}", stderr(&output));
        yaml::parse_one(&String::from_utf8(output.stdout).unwrap()).unwrap()
    })
}

fn chart() -> &'static Chart {
    static CHART: OnceLock<Chart> = OnceLock::new();
    CHART.get_or_init(|| {
        let limits = modelops_executor::archive::Limits::default();
        Chart::load(&root().join("charts/modelops"), &limits).unwrap()
    })
}

/// Paths to every string in the tree.
fn string_leaves(value: &Value, path: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    match value {
        Value::String(_) => out.push(path.clone()),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                path.push(i.to_string());
                string_leaves(item, path, out);
                path.pop();
            }
        }
        Value::Object(map) => {
            for (key, item) in map {
                path.push(key.clone());
                string_leaves(item, path, out);
                path.pop();
            }
        }
        _ => {}
    }
}

fn set_leaf(value: &mut Value, path: &[String], text: &str) {
    let mut node = value;
    for key in path {
        node = match node {
            Value::Array(items) => &mut items[key.parse::<usize>().unwrap()],
            Value::Object(map) => map.get_mut(key).unwrap(),
            _ => unreachable!(),
        };
    }
    *node = Value::String(text.to_string());
}

/// The shape of a document: its keys and list lengths, every scalar as `_`.
fn shape(value: &Value) -> String {
    match value {
        Value::Object(map) => format!(
            "{{{}}}",
            map.iter()
                .map(|(k, v)| format!("{k}:{}", shape(v)))
                .collect::<Vec<_>>()
                .join(",")
        ),
        Value::Array(items) => format!(
            "[{}]",
            items.iter().map(shape).collect::<Vec<_>>().join(",")
        ),
        _ => "_".into(),
    }
}

/// Renders the chart with `values` and parses the output as the executor does: the shapes of
/// every document, or an error.
fn rendered_shapes(values: &Value) -> Result<Vec<String>, String> {
    let mut text = String::new();
    let release = Release {
        name: "job".into(),
        namespace: "ns".into(),
    };
    render::render_pieces(
        chart(),
        &mut values.clone(),
        &release,
        render::DEFAULT_MAX_TEMPLATE_OUTPUT_BYTES,
        &mut |piece| text.push_str(&piece.text),
    )
    .map_err(|e| e.to_string())?;
    let documents =
        yaml::parse_documents_as(&text, Scalars::Rendered).map_err(|e| e.to_string())?;
    Ok(documents.iter().map(|d| shape(&d.value)).collect())
}

fn hostile_text() -> impl Strategy<Value = String> {
    let pieces = prop_oneof![
        Just("\n"),
        Just("\r\n"),
        Just("\u{2028}"),
        Just("\u{85}"),
        Just(": "),
        Just(":"),
        Just("- "),
        Just("#"),
        Just(" #"),
        Just("'"),
        Just("\""),
        Just("\\"),
        Just("{{"),
        Just("}}"),
        Just("---"),
        Just("\n---\n"),
        Just("  "),
        Just("\t"),
        Just("    hostNetwork: true"),
        Just("[x, y]"),
        Just("{a: b}"),
        Just(","),
        Just("&a "),
        Just("*a"),
        Just("!!str "),
        Just("|"),
        Just(">-"),
        Just("%"),
        Just("@"),
        Just("`"),
        Just("? "),
        Just("word"),
    ];
    proptest::collection::vec(pieces, 1..8).prop_map(|parts| parts.concat())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    /// Every string-valued input field, set to text full of YAML syntax, either renders objects
    /// of the same shape as a benign word does, or is refused.
    #[test]
    fn hostile_strings_never_change_the_rendered_structure(
        field in any::<prop::sample::Index>(),
        hostile in hostile_text(),
    ) {
        let base = job_values();
        let mut leaves = Vec::new();
        string_leaves(base, &mut Vec::new(), &mut leaves);
        let path = field.get(&leaves);
        let mut benign = base.clone();
        set_leaf(&mut benign, path, "benignword");
        let mut attacked = base.clone();
        set_leaf(&mut attacked, path, &hostile);
        let expected = rendered_shapes(&benign);
        prop_assume!(expected.is_ok());
        if let Ok(shapes) = rendered_shapes(&attacked) {
            prop_assert_eq!(shapes, expected.unwrap(), "field {} = {:?}", path.join("."), hostile);
        }
    }
}

/// A copy of the batch-fraud IR with `pipeline.yaml` and `models.yaml` edited by `edit`.
fn edited_ir(edit: impl Fn(&str, String) -> String) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for file in ["pipeline.yaml", "models.yaml", "flows.yaml"] {
        let text = std::fs::read_to_string(root().join("examples/batch-fraud").join(file)).unwrap();
        std::fs::write(dir.path().join(file), edit(file, text)).unwrap();
    }
    dir
}

fn preprocess_ir(ir: &std::path::Path, extra: &[&str]) -> Output {
    let ir = ir.display().to_string();
    let mut args = vec!["preprocess", "--ir", &ir];
    if !extra.contains(&"--channels") {
        args.extend(["--channels", "examples/channels"]);
    }
    args.extend_from_slice(extra);
    run(&args)
}

#[test]
fn an_alias_bomb_is_refused_naming_the_file() {
    let ir = edited_ir(|file, text| {
        if file != "pipeline.yaml" {
            return text;
        }
        let big = "x".repeat(1024 * 1024);
        let aliases = "*big, ".repeat(40);
        text.replace(
            "    region: eu-west\n",
            &format!("    region: eu-west\n    bomb: &big {big}\n    list: [{aliases}]\n"),
        )
    });
    let started = std::time::Instant::now();
    let output = preprocess_ir(ir.path(), &[]);
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(2), "{err}");
    assert!(
        err.contains("pipeline.yaml") && err.contains("aliases expand"),
        "{err}"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
}

#[test]
fn deep_nesting_fails_fast_in_every_yaml_input() {
    let deep = "{a: ".repeat(100_000);
    let (_dir, file) = temp_file("deep.yaml", &deep);
    let ir = edited_ir(|file, text| {
        if file == "flows.yaml" {
            format!("{text}---\n{deep}")
        } else {
            text
        }
    });
    let channels = tempfile::tempdir().unwrap();
    std::fs::write(channels.path().join("c.yaml"), &deep).unwrap();
    let channels = channels.path().display().to_string();
    for (what, extra) in [
        ("IR", vec![]),
        ("globals", vec!["--globals", file.as_str()]),
        ("-f", vec!["-f", file.as_str()]),
        ("channels", vec!["--channels", channels.as_str()]),
    ] {
        let ir_path = if what == "IR" {
            ir.path().to_path_buf()
        } else {
            root().join("examples/batch-fraud")
        };
        let started = std::time::Instant::now();
        let output = preprocess_ir(&ir_path, &extra);
        let elapsed = started.elapsed();
        let err = stderr(&output);
        assert_eq!(output.status.code(), Some(2), "{what}: {err}");
        assert!(err.contains("nested deeper than 128"), "{what}: {err}");
        assert!(
            elapsed < std::time::Duration::from_secs(2),
            "{what}: took {elapsed:?}"
        );
    }
}

#[test]
fn unquoted_numbers_keep_the_authors_text() {
    let ir = edited_ir(|file, text| match file {
        "models.yaml" => text.replacen("version: \"3\"", "version: 1.10", 1),
        "pipeline.yaml" => text
            .replace("threshold: \"0.75\"", "threshold: 1e3")
            .replace("window: \"24h\"", "window: 0x1F")
            .replace("region: eu-west", "region: True"),
        _ => text,
    });
    let output = preprocess_ir(ir.path(), &[]);
    assert!(output.status.success(), "{}", stderr(&output));
    let values = yaml::parse_one(&String::from_utf8(output.stdout).unwrap()).unwrap();
    let parameters = &values["pipeline"]["parameters"];
    assert_eq!(parameters["threshold"], "1e3");
    assert_eq!(parameters["window"], "0x1F");
    assert_eq!(parameters["region"], "True");
    let versions: Vec<&Value> = values["scoringServices"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["models"].as_array().unwrap())
        .filter(|m| m["name"] == "fraud-gbm")
        .map(|m| &m["version"])
        .collect();
    assert_eq!(versions, [&Value::from("1.10")]);
}

#[test]
fn duplicate_keys_are_refused_with_file_line_and_key() {
    let ir = edited_ir(|file, text| {
        if file == "pipeline.yaml" {
            text.replace("  mode: batch\n", "  mode: batch\n  mode: streaming\n")
        } else {
            text
        }
    });
    let output = preprocess_ir(ir.path(), &[]);
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(2), "{err}");
    assert!(
        err.contains("pipeline.yaml")
            && err.contains("line 9")
            && err.contains("duplicate key `mode`"),
        "{err}"
    );
}

#[test]
fn a_channel_registry_file_is_read_and_errors_name_the_input() {
    let ok = run(&[
        "preprocess",
        "--ir",
        "examples/batch-fraud",
        "--channels",
        "examples/channels/registry.yaml",
    ]);
    assert!(ok.status.success(), "{}", stderr(&ok));
    let missing = run(&[
        "preprocess",
        "--ir",
        "examples/batch-fraud",
        "--channels",
        "/nonexistent/registry.yaml",
    ]);
    let err = stderr(&missing);
    assert_eq!(missing.status.code(), Some(2), "{err}");
    assert!(
        err.contains("data channel registry (--channels)") && !err.contains("chart"),
        "{err}"
    );
}

#[test]
fn a_flow_name_with_a_parameter_is_reported() {
    let ir = edited_ir(|file, text| {
        if file == "pipeline.yaml" {
            text.replace(
                "    - score-merchants\n",
                "    - score-merchants\n    - \"${region}\"\n",
            )
        } else {
            text
        }
    });
    let output = preprocess_ir(ir.path(), &[]);
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(2), "{err}");
    assert!(
        err.contains("spec.flows[2]") && err.contains("cannot use parameters"),
        "{err}"
    );
}

#[test]
fn hostile_flags_exit_2_without_a_crash_or_an_echoed_secret() {
    let long_path = format!("{}=1", vec!["a"; 60_000].join("."));
    let braces = format!("a={}{}", "{".repeat(30_000), "}".repeat(30_000));
    for (set, needle) in [
        (long_path.as_str(), "more than 64 segments"),
        (braces.as_str(), "nest deeper than 8"),
        (
            "global.jobId=other-job",
            "`global.jobId` is set by the executor",
        ),
        ("p@ss=w0rd!,registry.password", "expected key=value"),
    ] {
        let output = preprocess_ir(&root().join("examples/batch-fraud"), &["--set", set]);
        let err = stderr(&output);
        assert_eq!(output.status.code(), Some(2), "{needle}: {err}");
        assert!(err.contains(needle), "{needle}: {err}");
        assert!(!err.contains("w0rd") && !err.contains("panicked"), "{err}");
        assert!(
            err.len() < 2000,
            "the message repeats the input: {} bytes",
            err.len()
        );
    }
}

#[test]
fn a_fifo_is_refused_instead_of_blocking() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("globals.yaml");
    let path = std::ffi::CString::new(fifo.display().to_string()).unwrap();
    // SAFETY: a valid C string; mkfifo only creates the node.
    assert_eq!(unsafe { libc::mkfifo(path.as_ptr(), 0o600) }, 0);
    let fifo = fifo.display().to_string();
    for flag in ["--globals", "-f", "--channels"] {
        let started = std::time::Instant::now();
        let output = preprocess_ir(&root().join("examples/batch-fraud"), &[flag, &fifo]);
        let err = stderr(&output);
        assert_eq!(output.status.code(), Some(2), "{flag}: {err}");
        assert!(err.contains("fifo"), "{flag}: {err}");
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
    }
    // The other commands that read a file given on the command line.
    for args in [
        vec!["lint", "charts/modelops", "-f", &fifo],
        vec!["validate", "--job-id", "j", "-n", "ns", "--requests", &fifo],
    ] {
        let started = std::time::Instant::now();
        let output = run(&args);
        let err = stderr(&output);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains("fifo"), "{args:?}: {err}");
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
    }
}

#[test]
fn the_final_error_is_json_with_json_logs_and_never_coloured() {
    let output = run(&["--log-format", "json", "preprocess", "--ir", "/nonexistent"]);
    assert_eq!(output.status.code(), Some(2));
    let err = stderr(&output);
    for line in err.lines() {
        let parsed: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert!(parsed.get("level").is_some(), "{line}");
    }
    let last: Value = serde_json::from_str(err.lines().last().unwrap()).unwrap();
    assert_eq!(last["exit_code"], 2);
    assert!(
        last["message"]
            .as_str()
            .unwrap()
            .contains("cannot load the IR")
    );
    // Text logs to a pipe carry no ANSI escapes, even without NO_COLOR.
    let output = Command::new(env!("CARGO_BIN_EXE_modelops-executor"))
        .args([
            "preprocess",
            "--ir",
            "examples/batch-fraud",
            "--channels",
            "examples/channels",
        ])
        .current_dir(root())
        .env_remove("NO_COLOR")
        .output()
        .unwrap();
    assert!(output.status.success());
    assert!(!stderr(&output).contains('\u{1b}'), "{}", stderr(&output));
}

#[test]
fn an_output_dir_that_cannot_be_a_directory_is_exit_2_and_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let blocker = dir.path().join("out");
    std::fs::write(&blocker, "a file where the directory should be").unwrap();
    let out = blocker.display().to_string();
    let output = render_example(&["--output-dir", &out]);
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(2), "{err}");
    assert!(err.contains("cannot write"), "{err}");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

#[test]
fn a_globals_type_error_names_the_field_never_the_secret_value() {
    let (_dir, globals) = temp_file(
        "globals.yaml",
        "gitServer:\n  url: [https://bot:ghp_s3cr3tT0ken@git.example]\nregistry:\n  imagePullSecrets: ghp_s3cr3tT0ken\ntrace: ghp_s3cr3tT0ken\n",
    );
    let output = preprocess_ir(
        &root().join("examples/batch-fraud"),
        &["--globals", &globals],
    );
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(2), "{err}");
    for field in ["gitServer.url", "registry.imagePullSecrets", "trace"] {
        assert!(err.contains(field), "{field}: {err}");
    }
    assert!(!err.contains("s3cr3t"), "{err}");
}

#[test]
fn input_limits_are_flags_named_in_the_refusal() {
    let ir = root().join("examples/batch-fraud");
    let ir = ir.to_str().unwrap();
    // 17 MiB of comments: over the 16 MiB default per file, fine when the flag raises it.
    let padding = format!("# {}\n", "x".repeat(1022)).repeat(17 * 1024);
    let (_dir, globals) = temp_file("globals.yaml", &format!("{padding}trace: {{}}\n"));
    let refused = preprocess_ir(std::path::Path::new(ir), &["--globals", &globals]);
    let err = stderr(&refused);
    assert_eq!(refused.status.code(), Some(2), "{err}");
    assert!(
        err.contains("globals.yaml") && err.contains("--max-file-bytes"),
        "{err}"
    );
    let raised = preprocess_ir(
        std::path::Path::new(ir),
        &["--globals", &globals, "--max-file-bytes", "32Mi"],
    );
    assert_eq!(raised.status.code(), Some(0), "{}", stderr(&raised));

    for (flag, value, needle) in [
        ("--max-input-bytes", "1Ki", "--max-input-bytes"),
        ("--max-input-files", "2", "--max-input-files"),
    ] {
        let output = preprocess_ir(std::path::Path::new(ir), &[flag, value]);
        let err = stderr(&output);
        assert_eq!(output.status.code(), Some(2), "{flag}: {err}");
        assert!(
            err.contains("batch-fraud") && err.contains(needle),
            "{flag}: {err}"
        );
    }
    for (flag, value) in [
        ("--max-input-bytes", "0"),
        ("--max-file-bytes", "16MB"),
        ("--max-input-files", "many"),
        ("--ir-timeout", "99999999999999999d"),
        ("--ir-attempts", "0"),
    ] {
        let output = preprocess_ir(std::path::Path::new(ir), &[flag, value]);
        let err = stderr(&output);
        assert_eq!(output.status.code(), Some(2), "{flag} {value}: {err}");
        assert!(
            err.contains(flag) && !err.contains("panicked"),
            "{flag}: {err}"
        );
    }
}

#[test]
fn a_template_over_a_limit_is_exit_2_naming_template_and_line() {
    let chart = tempfile::tempdir().unwrap();
    let chart_dir = chart.path().join("modelops");
    copy_dir(&root().join("charts/modelops"), &chart_dir);
    // A recursive partial, defined where partials live.
    std::fs::write(
        chart_dir.join("templates/_loop.tpl"),
        "{{#*inline \"again\"}}{{include \"again\" this}}{{/inline}}\n",
    )
    .unwrap();
    // The error names where the limit was crossed: the template's line, or the partial's.
    for (file, text, at, needle) in [
        (
            "templates/huge-indent.yaml",
            "kind: ConfigMap\napiVersion: v1\n{{indent 100000000000 \"x\"}}\n",
            "templates/huge-indent.yaml:3:",
            "more than the 1024 allowed",
        ),
        (
            "templates/loop.yaml",
            "kind: ConfigMap\napiVersion: v1\n{{include \"again\" this}}\n",
            "templates/_loop.tpl:1:",
            "nest deeper than 64",
        ),
    ] {
        let path = chart_dir.join(file);
        std::fs::write(&path, text).unwrap();
        let output = render_example_with_chart(chart_dir.to_str().unwrap(), &[]);
        std::fs::remove_file(&path).unwrap();
        let err = stderr(&output);
        assert_eq!(output.status.code(), Some(2), "{file}: {err}");
        assert!(err.contains(at) && err.contains(needle), "{file}: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}
