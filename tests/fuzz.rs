//! Fuzz targets that run on stable, in `cargo test` (issue 11): the IR loader, the archive
//! unpacker, the `--set` parser and rendering with hostile values. Each starts from the seed
//! corpus in tests/fuzz-corpus/ and then mutates it (proptest). A case fails on a panic or on
//! taking over 2 s; the whole run fails if the process's peak RSS passed 512 MB (getrusage).
//!
//! `MODELOPS_FUZZ_CASES` sets the mutated cases per target (default 500, a few seconds in all
//! in a debug build); raise it for a longer run, e.g. `MODELOPS_FUZZ_CASES=20000 cargo test
//! --release --test fuzz`.

use modelops_executor::archive::{self, File, Files, Limits};
use modelops_executor::chart::Chart;
use modelops_executor::render::{self, Release};
use modelops_executor::yaml::{self, Scalars};
use modelops_executor::{ir, values};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const CASE_BUDGET: Duration = Duration::from_secs(2);
const MEMORY_BUDGET_KB: i64 = 512 * 1024;

fn corpus(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fuzz-corpus")
        .join(target);
    let mut entries: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    assert!(!entries.is_empty(), "{} is empty", dir.display());
    entries
        .into_iter()
        .map(|path| (name(&path), std::fs::read(&path).unwrap()))
        .collect()
}

fn name(path: &Path) -> String {
    path.file_name().unwrap().to_string_lossy().into_owned()
}

/// Lines of a text corpus file, with `\n` and `\u2028` written as escapes.
fn corpus_lines(target: &str) -> Vec<String> {
    corpus(target)
        .iter()
        .flat_map(|(_, bytes)| {
            String::from_utf8_lossy(bytes)
                .lines()
                .map(|l| l.replace("\\n", "\n").replace("\\u2028", "\u{2028}"))
                .collect::<Vec<_>>()
        })
        .collect()
}

fn cases() -> u32 {
    std::env::var("MODELOPS_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(500)
}

/// Runs `f` on one input and fails if it took over the budget (a panic fails by itself).
fn timed(what: &str, input: &dyn std::fmt::Debug, f: impl FnOnce()) {
    let started = Instant::now();
    f();
    let took = started.elapsed();
    assert!(
        took < CASE_BUDGET,
        "{what} took {took:?} on {:.200}",
        format!("{input:?}")
    );
}

fn peak_rss_kb() -> i64 {
    // SAFETY: getrusage fills the struct it is given.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    assert_eq!(unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) }, 0);
    usage.ru_maxrss
}

fn check_memory(target: &str) {
    let peak = peak_rss_kb();
    assert!(
        peak < MEMORY_BUDGET_KB,
        "{target}: the process peaked at {} MB",
        peak / 1024
    );
}

/// A byte string derived from a corpus entry: bytes replaced, inserted, removed or a hostile
/// token spliced in, a few times over.
fn mutated(seeds: Vec<Vec<u8>>, tokens: &'static [&'static str]) -> impl Strategy<Value = Vec<u8>> {
    let edit = (
        0..4u8,
        any::<prop::sample::Index>(),
        any::<u8>(),
        0..tokens.len(),
    );
    (
        prop::sample::select(seeds),
        prop::collection::vec(edit, 0..8),
    )
        .prop_map(move |(mut bytes, edits)| {
            for (kind, at, byte, token) in edits {
                let position = if bytes.is_empty() {
                    0
                } else {
                    at.index(bytes.len() + 1)
                };
                match kind {
                    0 if position < bytes.len() => bytes[position] = byte,
                    1 => bytes.insert(position, byte),
                    2 if position < bytes.len() => {
                        bytes.remove(position);
                    }
                    _ => {
                        let token = tokens[token].as_bytes();
                        bytes.splice(position..position, token.iter().copied());
                    }
                }
            }
            bytes
        })
}

const YAML_TOKENS: &[&str] = &[
    "\n", ": ", "- ", "{", "}", "[", "]", ",", "&a ", "*a", "!!str ", "!x ", "|\n", ">-\n",
    "---\n", "...\n", "? ", "#", "'", "\"", "\\", "${", "$${", "}}", "{{", "  ", "\t", "~", "0x1F",
    "1e3", "\u{FDD0}", "\u{2028}",
];

fn runner() -> TestRunner {
    TestRunner::new(Config {
        cases: cases(),
        failure_persistence: None,
        ..Config::default()
    })
}

fn ir_files(name: &str, bytes: Vec<u8>) -> Files {
    Files {
        origin: "fuzz".into(),
        files: vec![File {
            path: format!("{name}.yaml"),
            bytes,
        }],
    }
}

#[test]
fn fuzz_ir_loader() {
    let seeds = corpus("ir");
    for (name, bytes) in &seeds {
        timed("ir::parse", name, || {
            let _ = ir::parse(&ir_files(name, bytes.clone()));
        });
    }
    let strategy = mutated(seeds.into_iter().map(|(_, b)| b).collect(), YAML_TOKENS);
    runner()
        .run(&strategy, |bytes| {
            timed("ir::parse", &String::from_utf8_lossy(&bytes), || {
                let _ = ir::parse(&ir_files("case", bytes.clone()));
                if let Ok(text) = std::str::from_utf8(&bytes) {
                    let _ = yaml::parse_documents_as(text, Scalars::Typed);
                }
            });
            Ok(())
        })
        .unwrap();
    check_memory("ir loader");
}

#[test]
fn fuzz_archive_unpacker() {
    let seeds = corpus("archive");
    let limits = Limits {
        max_total_bytes: 4 * 1024 * 1024,
        max_entries: 1000,
        max_file_bytes: 1024 * 1024,
    };
    for (name, bytes) in &seeds {
        timed("read_tar_gz", name, || {
            let _ = archive::read_tar_gz(name, bytes, &limits);
        });
    }
    let strategy = mutated(
        seeds.into_iter().map(|(_, b)| b).collect(),
        &["\0", "\u{ff}"],
    );
    runner()
        .run(&strategy, |bytes| {
            timed("read_tar_gz", &bytes.len(), || {
                let _ = archive::read_tar_gz("case", &bytes, &limits);
            });
            Ok(())
        })
        .unwrap();
    check_memory("archive unpacker");
}

#[test]
fn fuzz_set_parser() {
    let seeds = corpus_lines("set");
    for expression in &seeds {
        timed("apply_set", expression, || {
            let _ = values::apply_set(&mut json!({}), expression);
        });
    }
    let tokens: &'static [&'static str] = &[
        ".",
        "[",
        "]",
        "[0]",
        "[99999]",
        "{",
        "}",
        ",",
        "=",
        "\\",
        "\\.",
        "\\,",
        "a",
        "global.jobId",
    ];
    let strategy = mutated(seeds.into_iter().map(String::into_bytes).collect(), tokens);
    runner()
        .run(&strategy, |bytes| {
            let expression = String::from_utf8_lossy(&bytes).into_owned();
            timed("apply_set", &expression, || {
                let mut values = json!({"global": {"jobId": "j"}});
                if values::apply_set(&mut values, &expression).is_ok() {
                    // Whatever it set is a plain tree that emits as YAML.
                    let _ = yaml::to_string(&values);
                }
            });
            Ok(())
        })
        .unwrap();
    // Huge inputs of the shapes that crashed before.
    for expression in [
        format!("{}=1", vec!["a"; 60_000].join(".")),
        format!("a={}{}", "{".repeat(30_000), "}".repeat(30_000)),
        format!("{}=1", "[0]".repeat(30_000)),
    ] {
        timed("apply_set", &expression.len(), || {
            assert!(values::apply_set(&mut json!({}), &expression).is_err());
        });
    }
    check_memory("--set parser");
}

/// A chart that writes one value into every kind of place a template can put it.
fn contexts_chart() -> Chart {
    let template = r#"apiVersion: v1
kind: ConfigMap
metadata:
  name: {{Values.v}}-cm
  labels:
    plain: {{Values.v}}
    {{Values.v}}: key
  annotations: {a: {{Values.v}}, b: [{{Values.v}}]}
# a comment with {{Values.v}}
data:
  double: "{{Values.v}}"
  single: '{{Values.v}}'
  quoted: {{quote Values.v}}
  squoted: {{squote Values.v}}
  json: {{toJson Values.v}}
  yaml: {{toYaml Values.v}}
  block: |
    {{Values.v}}
  indented: |
{{indent 4 Values.v}}
  nested:{{nindent 4 (toYaml Values.m)}}
  printf: {{printf "%s-%d" Values.v 3}}
  included: {{include "p" this}}
  list:
    - {{Values.v}}
    - {{lower Values.v}}
"#;
    let files = Files {
        origin: "fuzz".into(),
        files: vec![
            File {
                path: "Chart.yaml".into(),
                bytes: b"apiVersion: v2\nname: fuzz\nversion: 1.0.0\n".to_vec(),
            },
            File {
                path: "templates/_p.tpl".into(),
                bytes: b"{{#*inline \"p\"}}x{{Values.v}}{{/inline}}".to_vec(),
            },
            File {
                path: "templates/cm.yaml".into(),
                bytes: template.as_bytes().to_vec(),
            },
        ],
    };
    Chart::from_files(&files, None).unwrap()
}

/// Keys and list lengths, every scalar as `_`, and a key that is `stand_in` as `VALUE`.
fn shape(value: &Value, stand_in: &str) -> String {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<String> = map
                .iter()
                .map(|(k, v)| {
                    let k = if k == stand_in { "VALUE" } else { k.as_str() };
                    format!("{k}:{}", shape(v, stand_in))
                })
                .collect();
            entries.sort();
            format!("{{{}}}", entries.join(","))
        }
        Value::Array(items) => format!(
            "[{}]",
            items
                .iter()
                .map(|v| shape(v, stand_in))
                .collect::<Vec<_>>()
                .join(",")
        ),
        _ => "_".into(),
    }
}

/// The shapes of the rendered documents, with the value's own text standing in for its keys
/// (a value written as a key is expected to become that key).
fn render_shapes(chart: &Chart, value: &str) -> Result<Vec<String>, String> {
    Ok(render_documents(chart, value)?
        .iter()
        .map(|d| shape(d, value))
        .collect())
}

fn render_documents(chart: &Chart, value: &str) -> Result<Vec<Value>, String> {
    let mut text = String::new();
    let release = Release {
        name: "r".into(),
        namespace: "n".into(),
    };
    let mut job = json!({});
    let values_block = json!({"v": value, "m": {"k": value, "list": [value]}});
    // The chart's Values come from the job under the chart's name, as for sub-charts; here the
    // root chart's values are the job's top level.
    if let Value::Object(map) = &mut job {
        map.extend(values_block.as_object().unwrap().clone());
    }
    render::render_pieces(
        chart,
        &mut job,
        &release,
        render::DEFAULT_MAX_TEMPLATE_OUTPUT_BYTES,
        &mut |piece| text.push_str(&piece.text),
    )
    .map_err(|e| e.to_string())?;
    let documents =
        yaml::parse_documents_as(&text, Scalars::Rendered).map_err(|e| e.to_string())?;
    Ok(documents.into_iter().map(|d| d.value).collect())
}

/// Every mapping key of the documents.
fn keys(value: &Value, out: &mut std::collections::BTreeSet<String>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                out.insert(k.clone());
                keys(v, out);
            }
        }
        Value::Array(items) => items.iter().for_each(|v| keys(v, out)),
        _ => {}
    }
}

#[test]
fn fuzz_rendering_with_hostile_values() {
    let chart = contexts_chart();
    let benign = render_shapes(&chart, "benignword").unwrap();
    // A value equal to one of the template's own keys (`a`, `plain`, …) is indistinguishable from
    // it in the shapes: such a plain word is no injection, and the oracle cannot judge it.
    let mut template_keys = std::collections::BTreeSet::new();
    for document in render_documents(&chart, "benignword").unwrap() {
        keys(&document, &mut template_keys);
    }
    template_keys.remove("benignword");
    let check = |value: &str| {
        if template_keys.contains(value) {
            return;
        }
        timed("render", &value, || {
            if let Ok(shapes) = render_shapes(&chart, value) {
                assert_eq!(shapes, benign, "value {value:?} changed the structure");
            }
        });
    };
    let seeds = corpus_lines("render");
    for value in &seeds {
        check(value);
    }
    let strategy = mutated(
        seeds.into_iter().map(String::into_bytes).collect(),
        YAML_TOKENS,
    );
    runner()
        .run(&strategy, |bytes| {
            let value = String::from_utf8_lossy(&bytes).into_owned();
            if !value.is_empty() && value != "VALUE" {
                check(&value);
            }
            Ok(())
        })
        .unwrap();
    check_memory("rendering");
}
