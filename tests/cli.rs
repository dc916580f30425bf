//! The real binary, end to end, without a cluster: golden files for every example, the bad-input
//! corpus, archives, packaging and the command-line contract.

use std::path::{Path, PathBuf};
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

/// Each example, the extra flags it is rendered with, and its golden directory.
const EXAMPLES: [(&str, &[&str]); 3] = [
    ("batch-fraud", &["--globals", "examples/globals.yaml"]),
    (
        "streaming-recommendations",
        &[
            "--globals",
            "examples/globals.yaml",
            "--job-id",
            "reco-42",
            "--namespace",
            "shop",
        ],
    ),
    (
        "batch-fraud-minimal",
        &[
            "--param",
            "threshold=0.8",
            "--set",
            "scoringServices[0].replicas=3",
        ],
    ),
];

fn example_args(example: &str, extra: &[&str], command: &str) -> Vec<String> {
    let ir = if example == "batch-fraud-minimal" {
        "examples/batch-fraud".to_string()
    } else {
        format!("examples/{example}")
    };
    let mut args = vec![
        command.to_string(),
        "--ir".into(),
        ir,
        "--channels".into(),
        "examples/channels".into(),
        "--chart".into(),
        "charts/modelops".into(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

/// Compares with the golden file, or rewrites it when UPDATE_GOLDEN=1.
fn assert_golden(path: &Path, actual: &str) {
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(path)
        .unwrap_or_else(|_| panic!("{} is missing; run with UPDATE_GOLDEN=1", path.display()));
    if expected != actual {
        let line = expected
            .lines()
            .zip(actual.lines())
            .position(|(a, b)| a != b)
            .map(|i| i + 1);
        panic!(
            "{} differs from the output (first differing line: {line:?}); if the change is intended, rerun with UPDATE_GOLDEN=1",
            path.display()
        );
    }
}

#[test]
fn golden_preprocess_and_render_for_every_example() {
    for (example, extra) in EXAMPLES {
        for (command, file) in [("preprocess", "values.yaml"), ("render", "manifests.yaml")] {
            let args = example_args(example, extra, command);
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let first = run(&args);
            assert!(
                first.status.success(),
                "{example} {command}: {}",
                text(&first.stderr)
            );
            let second = run(&args);
            assert_eq!(
                first.stdout, second.stdout,
                "{example} {command} is not byte-stable across runs"
            );
            assert_golden(
                &root().join("tests/golden").join(example).join(file),
                &text(&first.stdout),
            );
        }
    }
}

/// The scoring services' Deployments of a render, as (name, minReadySeconds, readiness path).
fn scoring_service_readiness(manifests: &str) -> Vec<(String, Option<u64>, String)> {
    modelops_executor::yaml::parse_documents(manifests)
        .unwrap()
        .into_iter()
        .map(|document| document.value)
        .filter(|doc| {
            doc["kind"] == "Deployment"
                && doc["metadata"]["labels"]["app.kubernetes.io/component"] == "scoring-service"
        })
        .map(|doc| {
            let spec = &doc["spec"];
            let probe = &spec["template"]["spec"]["containers"][0]["readinessProbe"];
            (
                doc["metadata"]["name"].as_str().unwrap().to_string(),
                spec["minReadySeconds"].as_u64(),
                probe["httpGet"]["path"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn a_scoring_service_is_ready_when_its_models_are() {
    // batch-fraud with a second PMML model in the first flow: its PMML service serves two.
    let dir = tempfile::tempdir().unwrap();
    let ir = root().join("examples/batch-fraud");
    for file in ["pipeline.yaml", "models.yaml", "flows.yaml"] {
        std::fs::copy(ir.join(file), dir.path().join(file)).unwrap();
    }
    let flows = std::fs::read_to_string(ir.join("flows.yaml")).unwrap();
    let step = "    - {name: score, model: fraud-gbm}\n";
    assert!(
        flows.contains(step),
        "examples/batch-fraud/flows.yaml changed"
    );
    let flows = flows.replace(
        step,
        &format!("{step}    - {{name: rules, model: fraud-rules}}\n"),
    );
    std::fs::write(dir.path().join("flows.yaml"), flows).unwrap();
    let mut models = std::fs::read_to_string(ir.join("models.yaml")).unwrap();
    models.push_str(
        "---\napiVersion: modelops.io/v1\nkind: Model\nmetadata:\n  name: fraud-rules\nspec:\n  format: PMML\n  version: \"1.2\"\n  artifact:\n    uri: s3://models/fraud-rules/1.2/model.pmml\n",
    );
    std::fs::write(dir.path().join("models.yaml"), models).unwrap();
    let ir = dir.path().display().to_string();
    let args = ["render", "--ir", &ir, "--channels", "examples/channels"];

    let rendered = run(&args);
    assert!(rendered.status.success(), "{}", text(&rendered.stderr));
    let services = scoring_service_readiness(&text(&rendered.stdout));
    assert_eq!(services.len(), 4, "{services:?}");
    for (name, min_ready_seconds, path) in &services {
        // Never the server-wide /v2/health/ready: true with no model loaded at all.
        assert!(
            path.starts_with("/v2/models/") && path.ends_with("/ready"),
            "{name}: {path}"
        );
        if name.contains("-pmml-") {
            // The probe asks the last model; the other is covered by staying ready 5 s.
            assert_eq!(path, "/v2/models/fraud-rules/versions/1.2/ready", "{name}");
            assert_eq!(*min_ready_seconds, Some(5), "{name}");
        } else {
            assert_eq!(*min_ready_seconds, None, "{name}: one model, no wait");
        }
    }

    // A chart probe of another kind gives its settings, not its handler, to the model probe.
    let mut tcp = args.to_vec();
    tcp.extend([
        "--set",
        "scoring-service-pmml.probes.readiness.httpGet=null",
        "--set",
        "scoring-service-pmml.probes.readiness.tcpSocket.port=8080",
    ]);
    let rendered = run(&tcp);
    assert!(rendered.status.success(), "{}", text(&rendered.stderr));
    let manifests = text(&rendered.stdout);
    assert!(
        !manifests.contains("tcpSocket"),
        "one handler per probe: {manifests}"
    );
    let pmml = scoring_service_readiness(&manifests)
        .into_iter()
        .find(|(name, ..)| name.contains("-pmml-"))
        .unwrap();
    assert_eq!(pmml.2, "/v2/models/fraud-rules/versions/1.2/ready");

    // Switched off, the chart's probe path and no wait.
    let mut off = args.to_vec();
    off.extend(["--set", "scoring-service-pmml.modelReadiness.enabled=false"]);
    let rendered = run(&off);
    assert!(rendered.status.success(), "{}", text(&rendered.stderr));
    let pmml = scoring_service_readiness(&text(&rendered.stdout))
        .into_iter()
        .find(|(name, ..)| name.contains("-pmml-"))
        .unwrap();
    assert_eq!((pmml.1, pmml.2.as_str()), (None, "/v2/health/ready"));
}

#[test]
fn bad_input_corpus_gives_precise_errors_and_exit_2() {
    let corpus = root().join("tests/corpus");
    let mut cases: Vec<_> = std::fs::read_dir(&corpus)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    cases.sort();
    assert!(cases.len() >= 20, "the corpus lost cases");
    for case in cases {
        let name = case.file_name().unwrap().to_string_lossy().to_string();
        let expect = std::fs::read_to_string(case.join("expect")).unwrap();
        let mut exit = None;
        let mut args = vec![
            "preprocess".to_string(),
            "--ir".into(),
            case.join("ir").display().to_string(),
            "--channels".into(),
            "examples/channels".into(),
        ];
        let mut wanted = Vec::new();
        for line in expect.lines() {
            match line.split_once(' ') {
                Some(("exit", code)) => exit = Some(code.parse::<i32>().unwrap()),
                Some(("arg", arg)) => args.push(arg.replace("@/", &format!("{}/", case.display()))),
                Some(("stderr", needle)) => wanted.push(needle.to_string()),
                _ => panic!("{name}: bad expect line `{line}`"),
            }
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let output = run(&args);
        let stderr = text(&output.stderr);
        assert_eq!(
            output.status.code(),
            exit,
            "{name}: wrong exit code; stderr:\n{stderr}"
        );
        assert!(
            output.stdout.is_empty(),
            "{name}: printed values despite the error"
        );
        for needle in wanted {
            assert!(
                stderr.contains(&needle),
                "{name}: stderr lacks `{needle}`:\n{stderr}"
            );
        }
    }
}

fn tar_gz(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::default(),
    ));
    for (path, bytes) in entries {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_entry_type(tar::EntryType::Regular);
        // Write the name bytes directly: the tar crate refuses `..` through set_path.
        let name = &mut header.as_old_mut().name;
        name[..path.len()].copy_from_slice(path.as_bytes());
        header.set_cksum();
        builder.append(&header, *bytes).unwrap();
    }
    builder.into_inner().unwrap().finish().unwrap()
}

fn example_archive() -> Vec<u8> {
    let dir = root().join("examples/batch-fraud");
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| {
            (
                format!("ir/{}", p.file_name().unwrap().to_string_lossy()),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect();
    files.sort();
    let entries: Vec<(&str, &[u8])> = files
        .iter()
        .map(|(p, b)| (p.as_str(), b.as_slice()))
        .collect();
    tar_gz(&entries)
}

#[test]
fn archive_ir_renders_like_the_directory_and_checks_its_sha256() {
    let tmp = tempfile::tempdir().unwrap();
    let archive = tmp.path().join("ir.tar.gz");
    let bytes = example_archive();
    std::fs::write(&archive, &bytes).unwrap();
    let sha = modelops_executor::digest::sha256_hex(&bytes);
    let archive_arg = archive.display().to_string();
    let base = [
        "render",
        "--channels",
        "examples/channels",
        "--chart",
        "charts/modelops",
        "--job-id",
        "j1",
    ];
    let from_dir = run(&[&base[..], &["--ir", "examples/batch-fraud"]].concat());
    let from_archive = run(&[&base[..], &["--ir", &archive_arg, "--ir-sha256", &sha]].concat());
    assert!(
        from_archive.status.success(),
        "{}",
        text(&from_archive.stderr)
    );
    assert_eq!(from_dir.stdout, from_archive.stdout);

    let wrong = "0".repeat(64);
    let mismatch = run(&[&base[..], &["--ir", &archive_arg, "--ir-sha256", &wrong]].concat());
    assert_eq!(mismatch.status.code(), Some(2));
    let stderr = text(&mismatch.stderr);
    assert!(stderr.contains(&sha) && stderr.contains(&wrong), "{stderr}");
}

#[test]
fn malicious_archive_is_refused_before_anything_is_written() {
    let tmp = tempfile::tempdir().unwrap();
    let archive = tmp.path().join("evil.tar.gz");
    std::fs::write(
        &archive,
        tar_gz(&[
            ("ir/pipeline.yaml", b"a: 1\n"),
            ("../../escape.yaml", b"evil: true\n"),
        ]),
    )
    .unwrap();
    let output = run(&[
        "preprocess",
        "--ir",
        &archive.display().to_string(),
        "--channels",
        "examples/channels",
    ]);
    assert_eq!(output.status.code(), Some(2), "{}", text(&output.stderr));
    assert!(
        text(&output.stderr).contains("../../escape.yaml"),
        "{}",
        text(&output.stderr)
    );
    assert!(!tmp.path().parent().unwrap().join("escape.yaml").exists());
}

#[test]
fn render_output_dir_writes_one_file_per_template() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let args = example_args(
        "batch-fraud",
        &["--output-dir", &out.display().to_string()],
        "render",
    );
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let output = run(&args);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let flow_templates = out.join("modelops/charts/scoring-flow/templates");
    let files: Vec<_> = std::fs::read_dir(&flow_templates).unwrap().collect();
    assert!(
        !files.is_empty(),
        "no files under {}",
        flow_templates.display()
    );
    let all: String = walk(&out)
        .iter()
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect();
    let printed = run(&example_args("batch-fraud", &[], "render")
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>());
    assert_eq!(
        all.matches("\nkind: ").count(),
        text(&printed.stdout).matches("\nkind: ").count()
    );
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out.sort();
    out
}

#[test]
fn package_is_reproducible_and_renders_like_the_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let first = run(&[
        "package",
        "charts/modelops",
        "-d",
        &tmp.path().join("a").display().to_string(),
    ]);
    let second = run(&[
        "package",
        "charts/modelops",
        "-d",
        &tmp.path().join("b").display().to_string(),
    ]);
    assert!(first.status.success(), "{}", text(&first.stderr));
    let (sha_a, path_a) = text(&first.stdout)
        .trim()
        .split_once("  ")
        .map(|(s, p)| (s.to_string(), p.to_string()))
        .unwrap();
    let (sha_b, _) = text(&second.stdout)
        .trim()
        .split_once("  ")
        .map(|(s, p)| (s.to_string(), p.to_string()))
        .unwrap();
    assert_eq!(sha_a, sha_b, "packaging is not reproducible");
    assert_eq!(
        sha_a,
        modelops_executor::digest::sha256_hex(&std::fs::read(&path_a).unwrap())
    );

    let render = |chart: &str| {
        run(&[
            "render",
            "--ir",
            "examples/batch-fraud",
            "--channels",
            "examples/channels",
            "--chart",
            chart,
            "--job-id",
            "j1",
        ])
    };
    let from_dir = render("charts/modelops");
    let from_tgz = render(&path_a);
    assert!(from_tgz.status.success(), "{}", text(&from_tgz.stderr));
    assert_eq!(text(&from_dir.stdout), text(&from_tgz.stdout));
}

#[test]
fn version_names_the_commit() {
    let output = run(&["--version"]);
    let stdout = text(&output.stdout);
    assert!(output.status.success());
    assert!(
        stdout.starts_with(&format!(
            "modelops-executor {} (commit ",
            env!("CARGO_PKG_VERSION")
        )),
        "{stdout}"
    );
}

#[test]
fn json_logs_are_json_lines() {
    let args = example_args("batch-fraud", &["--log-format", "json"], "preprocess");
    let output = run(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(output.status.success());
    let stderr = text(&output.stderr);
    assert!(!stderr.is_empty());
    for line in stderr.lines() {
        let value: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        assert!(
            value.get("level").is_some() && value.get("message").is_some(),
            "{line}"
        );
    }
}

#[test]
fn usage_errors_exit_2() {
    let output = run(&["render"]);
    assert_eq!(output.status.code(), Some(2));
    let output = run(&[
        "render",
        "--ir",
        "examples/batch-fraud",
        "--chart",
        "/nonexistent/chart",
    ]);
    assert_eq!(output.status.code(), Some(2), "{}", text(&output.stderr));
    // Install's globals flags are checked before any connection is made.
    let output = run(&[
        "install",
        "--ir",
        "examples/batch-fraud",
        "--globals-namespace",
        "Not_A_Namespace",
    ]);
    assert_eq!(output.status.code(), Some(2), "{}", text(&output.stderr));
    assert!(
        text(&output.stderr)
            .contains("--globals-namespace `Not_A_Namespace` is not a DNS-1123 label"),
        "{}",
        text(&output.stderr)
    );
    let output = run(&["install", "--ir", "x", "--globals-configmap=maybe"]);
    assert_eq!(output.status.code(), Some(2), "{}", text(&output.stderr));
}

/// The allocator is tuned before its first allocation (src/main.rs), and an operator's
/// `MIMALLOC_*` variable still wins. mimalloc prints the options in effect when verbose.
#[cfg(target_os = "linux")]
#[test]
fn the_allocator_tuning_is_in_effect_and_the_environment_wins() {
    let options = |env: &[(&str, &str)]| {
        let output = Command::new(BIN)
            .arg("--version")
            .env("MIMALLOC_VERBOSE", "1")
            .envs(env.iter().copied())
            .output()
            .expect("the binary runs");
        assert!(output.status.success(), "{}", text(&output.stderr));
        let log = text(&output.stderr);
        let value = |name: &str| {
            log.lines()
                .find_map(|line| line.strip_prefix(&format!("option '{name}': ")))
                .unwrap_or_else(|| panic!("mimalloc did not print {name}:\n{log}"))
                .trim()
                .to_string()
        };
        (value("arena_eager_commit"), value("purge_delay"))
    };
    assert_eq!(options(&[]), ("0".into(), "10".into()));
    assert_eq!(
        options(&[("MIMALLOC_PURGE_DELAY", "1000")]),
        ("0".into(), "1000".into())
    );
}

/// `--artifact-credentials from-env`: the values name the job's own Secret, so every scoring
/// service's fetch-models reads (and mounts) that one; a values file may not point elsewhere.
#[test]
fn from_env_credentials_name_the_jobs_own_secret_and_cannot_be_overridden() {
    let args = example_args(
        "streaming-recommendations",
        &[
            "--job-id",
            "reco-42",
            "--namespace",
            "shop",
            "--artifact-credentials",
            "from-env",
        ],
        "render",
    );
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let output = run(&args);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let manifests = text(&output.stdout);
    let own = modelops_executor::preprocess::credentials_secret_name("reco-42");
    assert_eq!(own, "reco-42-artifact-credentials");
    assert!(
        manifests.contains(&format!("name: {own}\n"))
            && manifests.contains(&format!("secretName: {own}\n")),
        "envFrom and the mounted volume name the job's Secret:\n{manifests}"
    );
    assert!(!manifests.contains("modelops-artifact-credentials"));
    // Render prints no Secret: its data exists only where install runs.
    assert!(!manifests.contains("kind: Secret"));

    let mut overridden = args.clone();
    overridden.extend(["--set", "global.artifacts.credentialsSecret=shared"]);
    let output = run(&overridden);
    let err = text(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{err}");
    assert!(
        err.contains("`global.artifacts.credentialsSecret` is `reco-42-artifact-credentials`")
            && err.contains("--artifact-credentials reference"),
        "{err}"
    );

    let output = run(&[
        "render",
        "--ir",
        "examples/batch-fraud",
        "--artifact-credentials",
        "vault",
    ]);
    assert_eq!(output.status.code(), Some(2));
    assert!(text(&output.stderr).contains("[possible values: reference, from-env]"));
}
