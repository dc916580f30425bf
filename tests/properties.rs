//! Properties: preprocessing is deterministic and independent of how the IR is split into files
//! and documents; parsing and rendering never panic on arbitrary input.

use modelops_executor::archive::{File, Files};
use modelops_executor::chart::Chart;
use modelops_executor::preprocess::{self, Inputs, channels::Registry};
use modelops_executor::render::{self, Release};
use modelops_executor::{diagnostics::Diagnostics, ir};
use proptest::prelude::*;

const FORMATS: [&str; 8] = [
    "PMML",
    "PYTHON_BINARY",
    "PYTHON_SCRIPT",
    "STATISTICA",
    "TENSORFLOW_GRAPH",
    "TENSORFLOW_MODEL",
    "R_DATA",
    "R_OBJECT",
];

fn registry() -> Registry {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/channels/registry.yaml"
    ))
    .unwrap();
    let files = Files {
        origin: "channels".into(),
        files: vec![File {
            path: "registry.yaml".into(),
            bytes: text.into_bytes(),
        }],
    };
    let mut diagnostics = Diagnostics::default();
    let registry = Registry::from_files(&files, &mut diagnostics);
    assert!(diagnostics.is_empty());
    registry
}

/// A valid IR as a list of YAML documents: (model formats, flows as lists of model indices, params).
fn documents(formats: &[usize], flows: &[Vec<usize>], params: &[(String, String)]) -> Vec<String> {
    let mut docs = Vec::new();
    let flow_names: Vec<String> = (0..flows.len()).map(|i| format!("flow-{i}")).collect();
    let parameters: String = params
        .iter()
        .map(|(k, v)| format!("    {k}: {v:?}\n"))
        .collect();
    docs.push(format!(
        "apiVersion: modelops.io/v1\nkind: ScoringPipeline\nmetadata: {{name: prop}}\nspec:\n  mode: batch\n  parameters:\n{}  flows: [{}]\n",
        if parameters.is_empty() { "    {}\n".to_string() } else { parameters },
        flow_names.join(", ")
    ));
    for (i, format) in formats.iter().enumerate() {
        docs.push(format!(
            "apiVersion: modelops.io/v1\nkind: Model\nmetadata: {{name: model-{i}}}\nspec: {{format: {}, version: \"{i}\", artifact: {{uri: \"s3://m/{i}\"}}}}\n",
            FORMATS[*format]
        ));
    }
    for (i, steps) in flows.iter().enumerate() {
        let steps: String = steps
            .iter()
            .enumerate()
            .map(|(j, m)| format!("    - {{name: s{j}, model: model-{m}}}\n"))
            .collect();
        let reference = params
            .first()
            .map(|(k, _)| format!("${{{k}}}"))
            .unwrap_or_default();
        docs.push(format!(
            "apiVersion: modelops.io/v1\nkind: ScoringFlow\nmetadata: {{name: flow-{i}}}\nspec:\n  source: {{channel: transactions, format: txn-v1}}\n  sink: {{channel: fraud-alerts, format: alert-v1}}\n  steps:\n{steps}    - {{name: last, expression: \"x > {reference}\"}}\n"
        ));
    }
    docs
}

/// Splits documents into files: `cuts` decides where a new file starts.
fn files(docs: &[String], cuts: &[bool]) -> Files {
    let mut files: Vec<File> = Vec::new();
    for (i, doc) in docs.iter().enumerate() {
        if i == 0 || cuts.get(i).copied().unwrap_or(false) {
            files.push(File {
                path: format!("f{:03}.yaml", files.len()),
                bytes: Vec::new(),
            });
        } else {
            files.last_mut().unwrap().bytes.extend_from_slice(b"---\n");
        }
        files
            .last_mut()
            .unwrap()
            .bytes
            .extend_from_slice(doc.as_bytes());
    }
    Files {
        origin: "prop".into(),
        files,
    }
}

fn preprocess_yaml(files: &Files, registry: &Registry) -> (String, String) {
    let ir = ir::parse(files).expect("generated IRs are valid");
    let p = preprocess::preprocess(&ir, registry, &Inputs::default()).expect("preprocess succeeds");
    (p.yaml, p.digest)
}

/// Model formats (indices into FORMATS), flows (lists of model indices), pipeline parameters.
type IrShape = (Vec<usize>, Vec<Vec<usize>>, Vec<(String, String)>);

fn ir_shape() -> impl Strategy<Value = IrShape> {
    proptest::collection::vec(0usize..8, 1..8).prop_flat_map(|formats| {
        let models = formats.len();
        (
            Just(formats),
            proptest::collection::vec(proptest::collection::vec(0..models, 1..4), 1..6),
            proptest::collection::vec(("[a-z][a-z0-9]{0,6}", "[ -~]{0,12}"), 0..3),
        )
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn preprocessing_is_deterministic_and_layout_independent(
        (formats, flows, params) in ir_shape(),
        cuts in proptest::collection::vec(any::<bool>(), 0..20),
        seed in any::<u64>(),
    ) {
        let registry = registry();
        let mut params = params;
        params.sort();
        params.dedup_by(|a, b| a.0 == b.0);
        let docs = documents(&formats, &flows, &params);
        let (first, digest) = preprocess_yaml(&files(&docs, &[]), &registry);
        let (again, digest_again) = preprocess_yaml(&files(&docs, &[]), &registry);
        prop_assert_eq!(&first, &again);
        prop_assert_eq!(&digest, &digest_again);
        // The pipeline document first keeps flow order; shuffle the rest and split differently.
        let mut shuffled = docs.clone();
        let tail = &mut shuffled[1..];
        let n = tail.len();
        for i in 0..n {
            let j = (seed.wrapping_mul(6364136223846793005).wrapping_add(i as u64) % n as u64) as usize;
            tail.swap(i, j);
        }
        let (other, _) = preprocess_yaml(&files(&shuffled, &cuts), &registry);
        prop_assert_eq!(first, other);
    }

    #[test]
    fn ir_parsing_never_panics(text in "[ -~\n]{0,400}") {
        let files = Files { origin: "fuzz".into(), files: vec![File { path: "a.yaml".into(), bytes: text.into_bytes() }] };
        let _ = ir::parse(&files);
    }

    #[test]
    fn rendering_never_panics(
        pieces in proptest::collection::vec(prop_oneof![
            Just("{{Values.a}}".to_string()), Just("{{#each Values.list}}{{this}}{{/each}}".to_string()), Just("{{#if Values.b}}x{{else}}y{{/if}}".to_string()),
            Just("{{toYaml Values}}".to_string()), Just("{{nindent 2 (toYaml Values.m)}}".to_string()), Just("{{default \"d\" Values.nope}}".to_string()),
            Just("{{required \"need\" Values.nope}}".to_string()), Just("{{include \"p\" this}}".to_string()), Just("{{trunc -3 Values.a}}".to_string()),
            Just("{{printf \"%s %d\" Values.a Values.n}}".to_string()), Just("{{quote Values.m}}".to_string()), Just("{{".to_string()), Just("}}".to_string()), Just("{{/each}}".to_string()),
            Just("{{#each}}".to_string()), Just("\n---\n".to_string()), Just("kind: x\n".to_string()), Just("{{b64enc Values.a}}".to_string()), Just("{{lookup Values.m \"k\"}}".to_string()),
            "[ -~]{0,8}",
        ], 0..12),
        a in "[ -~]{0,10}",
        n in any::<i64>(),
    ) {
        let template: String = pieces.concat();
        let chart_files = Files {
            origin: "fuzz".into(),
            files: vec![
                File { path: "Chart.yaml".into(), bytes: b"apiVersion: v2\nname: fuzz\nversion: 1.0.0\n".to_vec() },
                File { path: "templates/_p.tpl".into(), bytes: b"{{#*inline \"p\"}}p{{/inline}}".to_vec() },
                File { path: "templates/t.yaml".into(), bytes: template.into_bytes() },
            ],
        };
        let chart = Chart::from_files(&chart_files, None).unwrap();
        let values = serde_json::json!({"a": a, "n": n, "b": n % 2 == 0, "list": [1, "x"], "m": {"k": "v"}});
        let _ = render::render(&chart, &values, &Release { name: "r".into(), namespace: "n".into() });
    }
}
