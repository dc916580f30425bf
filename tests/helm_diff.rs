//! `diff` against the local control plane (scripts/testcluster.sh): created before an install,
//! unchanged right after it, changed / pruned when the inputs change, `--exit-code`, and nothing
//! written (the job record included). Gated on `MODELOPS_TEST_KUBECONFIG` like the other
//! integration tests.

mod common;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::Api;
use std::process::Output;

fn run(kubeconfig: &str, args: &[&str]) -> Output {
    let mut command = common::binary(kubeconfig, args);
    common::stand_in_artifact_credentials(&mut command);
    command.output().expect("the binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test]
async fn diff_shows_created_unchanged_changed_and_pruned_and_writes_nothing() {
    let Some(kubeconfig) = common::kubeconfig_path("diff") else {
        return;
    };
    let client = kube::Client::try_from(
        kube::Config::from_custom_kubeconfig(
            kube::config::Kubeconfig::read_from(&kubeconfig).unwrap(),
            &Default::default(),
        )
        .await
        .unwrap(),
    )
    .unwrap();
    common::ensure_windows_node(&client, "helm-diff-test")
        .await
        .unwrap();
    let suffix = common::unique_suffix();
    let namespace = format!("diff-{suffix}");
    let job = format!("diff-{suffix}");
    // Object names include the job (docs/design-choices.md, Job id).
    let flow_config = format!(
        "configmap/{}-config: created\n+ apiVersion: v1\n",
        modelops_executor::preprocess::scoring_flow_name(
            "fraud-detection",
            "score-merchants",
            &job
        )
    );
    let pmml = modelops_executor::preprocess::service_name("fraud-detection", "pmml", &job);
    let python = modelops_executor::preprocess::service_name("fraud-detection", "python", &job);
    let inputs = [
        "--ir",
        "examples/batch-fraud",
        "--channels",
        "examples/channels",
        "--chart",
        "charts/modelops",
        "--globals",
        "examples/globals.yaml",
        "--globals-configmap=false",
        "--job-id",
        &job,
        "--namespace",
        &namespace,
    ];
    let diff = |extra: &[&str]| {
        let mut args = vec!["diff", "--exit-code"];
        args.extend_from_slice(&inputs);
        args.extend_from_slice(extra);
        run(&kubeconfig, &args)
    };

    // Before any install: every object would be created; nothing is written.
    let before = diff(&[]);
    let stdout = text(&before.stdout);
    assert_eq!(
        before.status.code(),
        Some(1),
        "{stdout}{}",
        text(&before.stderr)
    );
    assert!(stdout.contains(&flow_config), "{stdout}");
    assert!(
        stdout.contains(" 0 changed, 0 replaced, 0 pruned, 0 unchanged"),
        "{stdout}"
    );
    let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client.clone());
    assert!(
        namespaces.get_opt(&namespace).await.unwrap().is_none(),
        "diff created the namespace"
    );

    let mut install = vec!["install", "--create-namespace", "--timeout", "120s"];
    install.extend_from_slice(&inputs);
    let installed = run(&kubeconfig, &install);
    assert!(
        installed.status.success(),
        "install failed:\n{}",
        text(&installed.stderr)
    );
    let records: Api<ConfigMap> = Api::namespaced(client.clone(), &namespace);
    let record_name = format!("modelops-job-{job}");
    let record_version = records
        .get(&record_name)
        .await
        .unwrap()
        .metadata
        .resource_version;

    // Right after the install: nothing to do, exit 0 even with --exit-code.
    let same = diff(&[]);
    let stdout = text(&same.stdout);
    assert_eq!(
        same.status.code(),
        Some(0),
        "{stdout}{}",
        text(&same.stderr)
    );
    assert!(
        stdout.contains(" 0 created, 0 changed, 0 replaced, 0 pruned, "),
        "{stdout}"
    );

    // A changed value: the objects it reaches change, with a unified diff; the disabled
    // python runtime's objects would be pruned.
    let changed = diff(&[
        "--set",
        "scoringServices[0].autoscaling.maxReplicas=5,scoring-service-python.enabled=false",
    ]);
    let stdout = text(&changed.stdout);
    assert_eq!(
        changed.status.code(),
        Some(1),
        "{stdout}{}",
        text(&changed.stderr)
    );
    assert!(
        stdout.contains(&format!(
            "horizontalpodautoscaler/scoringservice-{pmml}: changed\n--- live\n+++ rendered\n@@ "
        )),
        "{stdout}"
    );
    assert!(
        stdout.contains("-  maxReplicas: 2\n+  maxReplicas: 5\n"),
        "{stdout}"
    );
    assert!(stdout.contains(&format!("{python}: pruned")), "{stdout}");
    assert!(!stdout.contains("managedFields"), "{stdout}");

    // Nothing was written: the record and the HPA are as install left them.
    let record_after = records
        .get(&record_name)
        .await
        .unwrap()
        .metadata
        .resource_version;
    assert_eq!(record_version, record_after, "diff wrote the job record");
    let again = diff(&[]);
    assert_eq!(again.status.code(), Some(0), "{}", text(&again.stdout));

    let finally = run(
        &kubeconfig,
        &["finally", "--job-id", &job, "--namespace", &namespace],
    );
    assert!(finally.status.success(), "{}", text(&finally.stderr));
    let _ = namespaces.delete(&namespace, &Default::default()).await;
}
