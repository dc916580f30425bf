//! The executor image the test cluster builds without a container engine
//! (`testcluster/images/executor.json`, assembled by `testcluster/cmd/imagebuild`) must be the
//! Dockerfile's final stage: same reference as the shipped Tekton YAML, same USER, WORKDIR,
//! ENTRYPOINT, CMD and labels, the same files at the same paths, the same non-root user.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

fn repo_file(rel: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// The Dockerfile's instructions as (keyword, arguments), continuation lines joined, comments
/// dropped, split into stages at each FROM.
fn dockerfile_stages(text: &str) -> Vec<Vec<(String, String)>> {
    let mut stages: Vec<Vec<(String, String)>> = Vec::new();
    let mut pending = String::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if pending.is_empty() && (trimmed.is_empty() || trimmed.starts_with('#')) {
            continue;
        }
        if let Some(head) = trimmed.strip_suffix('\\') {
            pending.push_str(head);
            pending.push(' ');
            continue;
        }
        pending.push_str(trimmed);
        let instruction = std::mem::take(&mut pending);
        let (keyword, args) = instruction
            .split_once(char::is_whitespace)
            .unwrap_or((instruction.as_str(), ""));
        let keyword = keyword.to_ascii_uppercase();
        if keyword == "FROM" {
            stages.push(Vec::new());
        }
        if let Some(stage) = stages.last_mut() {
            stage.push((keyword, args.trim().to_string()));
        }
    }
    stages
}

fn one<'a>(stage: &'a [(String, String)], keyword: &str) -> &'a str {
    let found: Vec<&str> = stage
        .iter()
        .filter(|(k, _)| k == keyword)
        .map(|(_, a)| a.as_str())
        .collect();
    assert_eq!(
        found.len(),
        1,
        "the final stage must have exactly one {keyword}: {found:?}"
    );
    found[0]
}

fn json_strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("expected a JSON array, got {v}"))
        .iter()
        .map(|s| s.as_str().expect("a string").to_string())
        .collect()
}

/// `${NAME}` and `$NAME` values stand for build-time inputs (the git commit).
fn normalise_label(value: &str) -> String {
    if value.contains('$') {
        "<build argument>".to_string()
    } else {
        value.to_string()
    }
}

/// LABEL k="v" k2="v2" ... of one instruction.
fn parse_labels(args: &str, into: &mut BTreeMap<String, String>) {
    let mut rest = args.trim();
    while !rest.is_empty() {
        let (key, after) = rest.split_once('=').expect("LABEL key=value");
        let after = after.trim_start();
        let (value, tail) = if let Some(quoted) = after.strip_prefix('"') {
            let end = quoted.find('"').expect("closing quote");
            (&quoted[..end], &quoted[end + 1..])
        } else {
            after.split_once(char::is_whitespace).unwrap_or((after, ""))
        };
        into.insert(key.trim().to_string(), normalise_label(value));
        rest = tail.trim_start();
    }
}

#[test]
fn executor_image_spec_matches_the_dockerfile_final_stage() {
    let dockerfile = repo_file("Dockerfile");
    let stages = dockerfile_stages(&dockerfile);
    assert!(stages.len() >= 2, "a build stage and a runtime stage");
    let builder = &stages[stages.len() - 2];
    let runtime = stages.last().unwrap();
    let spec: Value = serde_json::from_str(&repo_file("testcluster/images/executor.json"))
        .expect("executor.json is JSON");

    // USER, WORKDIR, ENTRYPOINT, CMD.
    assert_eq!(spec["user"].as_str(), Some(one(runtime, "USER")), "USER");
    assert_eq!(
        spec["workingDir"].as_str(),
        Some(one(runtime, "WORKDIR")),
        "WORKDIR"
    );
    let entrypoint: Value = serde_json::from_str(one(runtime, "ENTRYPOINT")).expect("exec form");
    assert_eq!(
        json_strings(&spec["entrypoint"]),
        json_strings(&entrypoint),
        "ENTRYPOINT"
    );
    let cmd: Value = serde_json::from_str(one(runtime, "CMD")).expect("exec form");
    assert_eq!(json_strings(&spec["cmd"]), json_strings(&cmd), "CMD");

    // Labels.
    let mut labels = BTreeMap::new();
    for (_, args) in runtime.iter().filter(|(k, _)| k == "LABEL") {
        parse_labels(args, &mut labels);
    }
    let spec_labels: BTreeMap<String, String> = spec["labels"]
        .as_object()
        .expect("labels")
        .iter()
        .map(|(k, v)| (k.clone(), normalise_label(v.as_str().expect("a string"))))
        .collect();
    assert_eq!(spec_labels, labels, "LABEL");

    // Files: the final stage copies the builder's /out/ to /; every path the builder puts under
    // /out/ must be in the spec.
    assert_eq!(
        one(runtime, "COPY"),
        "--from=builder --chown=0:0 /out/ /",
        "the final stage copies exactly the builder's /out/"
    );
    let spec_paths: Vec<&str> = spec["files"]
        .as_array()
        .expect("files")
        .iter()
        .map(|f| f["path"].as_str().expect("path"))
        .collect();
    let mut out_paths = Vec::new();
    for (keyword, args) in builder {
        for word in args.split_whitespace() {
            if let Some(path) = word.strip_prefix("/out/")
                && !path.is_empty()
                && (keyword == "RUN" || keyword == "COPY")
            {
                out_paths.push(format!("/{path}"));
            }
        }
    }
    out_paths.sort();
    out_paths.dedup();
    assert_eq!(
        out_paths,
        [
            "/usr/local/bin/modelops-executor",
            "/usr/share/modelops-executor/charts/modelops"
        ],
        "the builder's outputs"
    );
    for path in &out_paths {
        assert!(
            spec_paths.contains(&path.as_str()),
            "executor.json lacks {path}"
        );
    }
    // The binary finds its chart there when --chart is not given.
    let inputs = repo_file("src/job/inputs.rs");
    assert!(
        inputs.contains("/usr/share/modelops-executor/charts/modelops"),
        "src/job/inputs.rs no longer names the image's chart path"
    );

    // What distroless static :nonroot provides: CA certificates, the nonroot user 65532 with its
    // home directory, /tmp.
    let file = |path: &str| {
        spec["files"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["path"] == path)
            .unwrap_or_else(|| panic!("executor.json lacks {path}"))
            .clone()
    };
    assert!(file("/etc/ssl/certs/ca-certificates.crt")["from"].is_string());
    let passwd = file("/etc/passwd")["content"].as_str().unwrap().to_string();
    assert!(
        passwd
            .lines()
            .any(|l| l.starts_with("nonroot:x:65532:65532:") && l.contains(":/home/nonroot:")),
        "/etc/passwd has no nonroot user 65532: {passwd}"
    );
    let home = file("/home/nonroot");
    assert_eq!(
        (home["uid"].as_i64(), home["gid"].as_i64()),
        (Some(65532), Some(65532))
    );
    assert_eq!(file("/tmp")["mode"].as_str(), Some("1777"));
}

#[test]
fn executor_image_reference_is_the_default_of_the_shipped_tekton_yaml() {
    let spec: Value = serde_json::from_str(&repo_file("testcluster/images/executor.json")).unwrap();
    let reference = spec["reference"].as_str().unwrap();
    for task in [
        "tekton/task-install.yaml",
        "tekton/task-wait.yaml",
        "tekton/task-finally.yaml",
        "tekton/pipeline.yaml",
    ] {
        let text = repo_file(task);
        let defaults: Vec<&str> = text
            .lines()
            .map(str::trim)
            .filter_map(|l| l.strip_prefix("default: "))
            .filter(|v| v.contains("modelops-executor:"))
            .collect();
        assert_eq!(defaults, [reference], "{task}: default image");
    }
}

/// The scoring pods' init containers run the executor image too: the chart's default is the
/// Tasks' and the test cluster's repository at the crate's version (from the platform's registry,
/// as every platform image), so chart and Tasks name one release even before install passes its
/// own image (--executor-image).
#[test]
fn the_charts_executor_image_is_the_tasks_at_the_crates_version() {
    let spec: Value = serde_json::from_str(&repo_file("testcluster/images/executor.json")).unwrap();
    let reference = spec["reference"].as_str().unwrap();
    assert_eq!(
        reference.rsplit_once(':').unwrap().1,
        env!("CARGO_PKG_VERSION"),
        "the image's tag is the crate's version"
    );
    let values: Value = serde_norway::from_str(&repo_file("charts/modelops/values.yaml")).unwrap();
    let executor = &values["global"]["images"]["executor"];
    let chart_default = format!(
        "{}:{}",
        executor["repository"].as_str().unwrap(),
        executor["tag"].as_str().unwrap()
    );
    assert_eq!(
        Some(chart_default.as_str()),
        reference.split_once('/').map(|(_, rest)| rest)
    );
    let windows = &values["global"]["images"]["executorWindows"];
    assert_eq!(windows["tag"], executor["tag"], "one release, both builds");
}
