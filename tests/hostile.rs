//! Hostile input (issue 11): what an attacker or a careless user writes into the IR, globals,
//! channels, parameters, `--set` or `-f` never changes the structure of a rendered object,
//! never crashes or hangs the binary, and is never silently rewritten.

use modelops_executor::chart::Chart;
use modelops_executor::render::{self, Release};
use modelops_executor::yaml::{self, Scalars};
use proptest::prelude::*;
use serde_json::Value;
use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::OnceLock;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

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
    let mut args = vec![
        "render",
        "--ir",
        "examples/batch-fraud",
        "--channels",
        "examples/channels",
        "--chart",
        "charts/modelops",
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
    CHART.get_or_init(|| Chart::load(&root().join("charts/modelops")).unwrap())
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
    render::render_pieces(chart(), &mut values.clone(), &release, &mut |piece| {
        text.push_str(&piece.text)
    })
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
