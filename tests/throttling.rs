//! Faults end to end (README.md, Lifecycle guarantees): the real kube-apiserver of the local control plane answers the
//! real binary with HTTP 429 (API Priority and Fairness), and the binary retries, honouring
//! `Retry-After`, and completes its job; when the throttling outlasts its retry budget it stops
//! with exit code 3 (README.md, Exit codes: cluster or infrastructure error) and says why.
//!
//! How the 429s are made, with nothing but the API server's own machinery (docs/testcluster.md):
//! - the binary runs as its own ServiceAccount (a token kubeconfig), which a FlowSchema
//!   (precedence 100) puts into its own PriorityLevelConfiguration: `Limited`, 0 nominal shares,
//!   nothing lendable or borrowable, `limitResponse: Reject`. Such a level has no seats, and APF
//!   then runs one request at a time (it always admits a request into an idle level): any request
//!   of the identity that arrives while another one executes is rejected at once with 429 and
//!   `Retry-After` (1 s, growing when the level keeps rejecting). The test harness (the admin
//!   certificate, `system:masters`) is exempt, so only the binary is throttled.
//! - to decide *when* the level is busy instead of hoping the binary's own concurrency collides,
//!   a "blocker" request of the same identity holds that one seat: a dry-run create of a labelled
//!   ConfigMap that a ValidatingWebhookConfiguration sends to a loopback socket that never answers
//!   (failurePolicy Ignore), so the API server executes it for the webhook's timeout (at most
//!   10 s: the webhook client's TLS handshake timeout) and then lets it through.
//!
//! Each test checks the apiserver's metric `apiserver_flowcontrol_rejected_requests_total` of its
//! priority level against the 429s the binary logged (`--log-format json`), so it proves the
//! 429s were real, were all seen by the binary, and every wait lasted at least `Retry-After`.
//!
//! Gated like the other cluster tests on `MODELOPS_TEST_KUBECONFIG`.

use k8s_openapi::api::admissionregistration::v1::ValidatingWebhookConfiguration;
use k8s_openapi::api::authentication::v1::TokenRequest;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, ServiceAccount};
use k8s_openapi::api::flowcontrol::v1::{FlowSchema, PriorityLevelConfiguration};
use k8s_openapi::api::rbac::v1::ClusterRoleBinding;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use serde_json::{Value, json};
use std::process::Output;
use std::time::{Duration, Instant};

mod common;

const MANAGER: &str = "throttling-test";
const BLOCKER_LABEL: &str = "modelops.io/throttling-test-blocker";

async fn client_from(kubeconfig: Kubeconfig) -> Client {
    let config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .unwrap();
    Client::try_from(config).unwrap()
}

async fn apply<K>(api: &Api<K>, value: Value)
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let name = value["metadata"]["name"].as_str().unwrap().to_string();
    api.patch(
        &name,
        &PatchParams::apply(MANAGER).force(),
        &Patch::Apply(&value),
    )
    .await
    .unwrap_or_else(|e| panic!("apply {name}: {e}"));
}

/// One test's throttled identity: a ServiceAccount in its own namespace, routed by a FlowSchema
/// into a zero-seat priority level, and a webhook that can make one of its requests hang.
struct Throttled {
    admin: Client,
    /// Name of the PriorityLevelConfiguration, FlowSchema, webhook and ClusterRoleBinding.
    name: String,
    /// The ServiceAccount's namespace (not the job's: install creates that one itself).
    identity_ns: String,
    job_namespace: String,
    job_id: String,
    /// The binary's kubeconfig: the API server and CA of the admin one, the ServiceAccount's token.
    kubeconfig: tempfile::NamedTempFile,
    /// The same identity for the blocker requests.
    client: Client,
    /// The webhook's endpoint: connections are queued by the kernel and never accepted.
    _hole: std::net::TcpListener,
}

impl Throttled {
    async fn new(test: &str, webhook_timeout_s: u32) -> Option<Throttled> {
        let path = common::kubeconfig_path(test)?;
        let admin_config = Kubeconfig::read_from(&path).unwrap();
        let admin = client_from(admin_config.clone()).await;
        let short: String = test.replace('_', "-").chars().take(24).collect();
        let short = short.trim_end_matches('-');
        let suffix = common::unique_suffix();
        let name = format!("thr-{short}-{suffix}");
        let identity_ns = name.clone();
        let hole = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = hole.local_addr().unwrap().port();

        common::register_channels(&admin, "datachannels", MANAGER)
            .await
            .unwrap();
        common::ensure_windows_node(&admin, MANAGER).await.unwrap();
        let namespaces: Api<Namespace> = Api::all(admin.clone());
        apply(
            &namespaces,
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": identity_ns}}),
        )
        .await;
        let accounts: Api<ServiceAccount> = Api::namespaced(admin.clone(), &identity_ns);
        apply(
            &accounts,
            json!({"apiVersion": "v1", "kind": "ServiceAccount",
                   "metadata": {"name": "executor", "namespace": identity_ns}}),
        )
        .await;
        // What the binary may do is not under test here, how often it may ask is.
        apply(
            &Api::<ClusterRoleBinding>::all(admin.clone()),
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
                   "metadata": {"name": name},
                   "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
                   "subjects": [{"kind": "ServiceAccount", "name": "executor", "namespace": identity_ns}]}),
        )
        .await;
        apply(
            &Api::<PriorityLevelConfiguration>::all(admin.clone()),
            json!({"apiVersion": "flowcontrol.apiserver.k8s.io/v1", "kind": "PriorityLevelConfiguration",
                   "metadata": {"name": name},
                   "spec": {"type": "Limited", "limited": {
                       "nominalConcurrencyShares": 0, "lendablePercent": 0, "borrowingLimitPercent": 0,
                       "limitResponse": {"type": "Reject"}}}}),
        )
        .await;
        apply(
            &Api::<FlowSchema>::all(admin.clone()),
            json!({"apiVersion": "flowcontrol.apiserver.k8s.io/v1", "kind": "FlowSchema",
                   "metadata": {"name": name},
                   "spec": {"matchingPrecedence": 100,
                            "priorityLevelConfiguration": {"name": name},
                            "distinguisherMethod": {"type": "ByUser"},
                            "rules": [{
                                "subjects": [{"kind": "ServiceAccount",
                                              "serviceAccount": {"name": "executor", "namespace": identity_ns}}],
                                "resourceRules": [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"],
                                                   "namespaces": ["*"], "clusterScope": true}],
                                "nonResourceRules": [{"verbs": ["*"], "nonResourceURLs": ["*"]}]}]}}),
        )
        .await;
        let ca = admin_config.clusters[0]
            .cluster
            .as_ref()
            .unwrap()
            .certificate_authority_data
            .clone()
            .unwrap();
        apply(
            &Api::<ValidatingWebhookConfiguration>::all(admin.clone()),
            json!({"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingWebhookConfiguration",
                   "metadata": {"name": name},
                   "webhooks": [{
                       "name": "blocker.throttling-test.modelops.io",
                       "clientConfig": {"url": format!("https://127.0.0.1:{port}/"), "caBundle": ca},
                       "rules": [{"operations": ["CREATE"], "apiGroups": [""], "apiVersions": ["v1"],
                                  "resources": ["configmaps"], "scope": "Namespaced"}],
                       "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": identity_ns}},
                       "objectSelector": {"matchLabels": {BLOCKER_LABEL: suffix}},
                       "failurePolicy": "Ignore",
                       "sideEffects": "None",
                       "timeoutSeconds": webhook_timeout_s,
                       "admissionReviewVersions": ["v1"]}]}),
        )
        .await;

        let token = accounts
            .create_token_request(
                "executor",
                &PostParams::default(),
                &serde_json::from_value::<TokenRequest>(
                    json!({"spec": {"expirationSeconds": 3600}}),
                )
                .unwrap(),
            )
            .await
            .unwrap()
            .status
            .unwrap()
            .token;
        let server = admin_config.clusters[0]
            .cluster
            .as_ref()
            .unwrap()
            .server
            .clone()
            .unwrap();
        let text = serde_json::to_string(&json!({
            "apiVersion": "v1", "kind": "Config", "current-context": "throttled",
            "clusters": [{"name": "c", "cluster": {"server": server, "certificate-authority-data": ca}}],
            "users": [{"name": "u", "user": {"token": token}}],
            "contexts": [{"name": "throttled", "context": {"cluster": "c", "user": "u"}}],
        }))
        .unwrap();
        let kubeconfig = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(kubeconfig.path(), &text).unwrap();
        let mut config = Config::from_custom_kubeconfig(
            Kubeconfig::from_yaml(&text).unwrap(),
            &KubeConfigOptions::default(),
        )
        .await
        .unwrap();
        // The blocker must not be retried behind our back.
        config.default_retry = false;
        let client = Client::try_from(config).unwrap();
        let throttled = Throttled {
            admin,
            job_namespace: format!("{name}-job"),
            job_id: format!("{short}-{suffix}"),
            name,
            identity_ns,
            kubeconfig,
            client,
            _hole: hole,
        };
        throttled.until_classified().await;
        Some(throttled)
    }

    /// APF picks up new configuration asynchronously: wait until a request of the identity is
    /// answered with our priority level's uid (`X-Kubernetes-PF-PriorityLevel-UID`).
    async fn until_classified(&self) {
        let level = Api::<PriorityLevelConfiguration>::all(self.admin.clone())
            .get(&self.name)
            .await
            .unwrap();
        let uid = level.metadata.uid.unwrap();
        let started = Instant::now();
        loop {
            let request = http::Request::get(format!("/api/v1/namespaces/{}", self.identity_ns))
                .body(Vec::new())
                .unwrap();
            let response = self
                .client
                .send(request.map(kube::client::Body::from))
                .await
                .unwrap();
            let header = response
                .headers()
                .get("X-Kubernetes-PF-PriorityLevel-UID")
                .and_then(|v| v.to_str().ok());
            if header == Some(uid.as_str()) {
                return;
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "requests of the ServiceAccount never reached priority level {} (header {header:?})",
                self.name
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// The apiserver's flow-control metrics of our priority level, summed over the other labels.
    async fn metric(&self, name: &str) -> u64 {
        let request = http::Request::get("/metrics").body(Vec::new()).unwrap();
        let text = self.admin.request_text(request).await.unwrap();
        let level = format!("priority_level=\"{}\"", self.name);
        text.lines()
            .filter(|line| line.starts_with(&format!("{name}{{")) && line.contains(&level))
            .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
            .sum::<f64>() as u64
    }

    async fn rejected(&self) -> u64 {
        self.metric("apiserver_flowcontrol_rejected_requests_total")
            .await
    }

    /// One request of the identity that holds the priority level's only seat for the webhook's
    /// timeout (then the webhook is ignored and the dry run succeeds). Retried at once if the
    /// seat was taken (by the binary), so the level stays blocked.
    async fn block_once(&self) {
        let config_maps: Api<ConfigMap> = Api::namespaced(self.client.clone(), &self.identity_ns);
        let suffix = self.name.rsplit('-').next().unwrap().to_string();
        let blocker: ConfigMap = serde_json::from_value(json!({
            "metadata": {"name": "blocker", "labels": {BLOCKER_LABEL: suffix}}
        }))
        .unwrap();
        let params = PostParams {
            dry_run: true,
            ..PostParams::default()
        };
        for _ in 0..1000 {
            match config_maps.create(&params, &blocker).await {
                Err(kube::Error::Api(status)) if status.code == 429 => {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                Err(err) => panic!("blocker request failed: {err}"),
                Ok(_) => return,
            }
        }
        panic!("the blocker never got the seat");
    }

    /// Starts `rounds` blocker requests one after another and returns once the first executes.
    /// The API server takes in a new FlowSchema and webhook asynchronously (informers): a blocker
    /// that ends before it was seen executing in the level went by unheld, so a fresh one starts.
    async fn start_blocking(
        self: &std::sync::Arc<Self>,
        rounds: usize,
    ) -> tokio::task::JoinHandle<()> {
        let spawn = || {
            let this = self.clone();
            tokio::spawn(async move {
                for _ in 0..rounds {
                    this.block_once().await;
                }
            })
        };
        let mut task = spawn();
        let started = Instant::now();
        while self
            .metric("apiserver_flowcontrol_current_executing_requests")
            .await
            == 0
        {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "the blocker request never executed in priority level {}",
                self.name
            );
            if task.is_finished() {
                task.await.unwrap();
                task = spawn();
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        task
    }

    /// Runs the binary as the throttled identity, JSON logs on stderr.
    async fn run(&self, args: &[&str]) -> Output {
        let mut command = common::binary(&self.kubeconfig.path().to_string_lossy(), args);
        command.args(["--log-format", "json"]);
        common::stand_in_artifact_credentials(&mut command);
        let started = Instant::now();
        let output =
            tokio::task::spawn_blocking(move || command.output().expect("the binary runs"))
                .await
                .unwrap();
        eprintln!(
            "$ modelops-executor {} ({:.1} s, {})\n{}",
            args.join(" "),
            started.elapsed().as_secs_f64(),
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        output
    }

    fn job_ref(&self) -> [&str; 4] {
        ["--job-id", &self.job_id, "--namespace", &self.job_namespace]
    }

    async fn cleanup(&self) {
        let delete = DeleteParams::background();
        let _ = Api::<ValidatingWebhookConfiguration>::all(self.admin.clone())
            .delete(&self.name, &delete)
            .await;
        let _ = Api::<FlowSchema>::all(self.admin.clone())
            .delete(&self.name, &delete)
            .await;
        let _ = Api::<PriorityLevelConfiguration>::all(self.admin.clone())
            .delete(&self.name, &delete)
            .await;
        let _ = Api::<ClusterRoleBinding>::all(self.admin.clone())
            .delete(&self.name, &delete)
            .await;
        let namespaces: Api<Namespace> = Api::all(self.admin.clone());
        let _ = namespaces.delete(&self.identity_ns, &delete).await;
        let _ = namespaces.delete(&self.job_namespace, &delete).await;
    }
}

/// What the binary logged about 429s: its retries (`with_retry`), give-ups, and watch errors.
#[derive(Debug, Default)]
struct Throttling {
    retries: Vec<Value>,
    gave_up: Vec<Value>,
    watch_errors: usize,
}

impl Throttling {
    fn of(outputs: &[&Output]) -> Throttling {
        let mut seen = Throttling::default();
        for output in outputs {
            for line in String::from_utf8_lossy(&output.stderr).lines() {
                let Ok(event) = serde_json::from_str::<Value>(line) else {
                    continue;
                };
                let message = event["message"].as_str().unwrap_or_default();
                let is_429 = event["code"] == 429
                    || event["error"]
                        .as_str()
                        .is_some_and(|e| e.contains("Too many requests"));
                if !is_429 {
                    continue;
                }
                match message {
                    "transient API error, retrying" => seen.retries.push(event),
                    "transient API error persists; giving up" => seen.gave_up.push(event),
                    m if m.starts_with("watch") => seen.watch_errors += 1,
                    _ => {}
                }
            }
        }
        seen
    }

    /// 429s the binary received: each retry, each give-up, each interrupted watch.
    fn received(&self) -> u64 {
        (self.retries.len() + self.gave_up.len() + self.watch_errors) as u64
    }

    /// Every retry after a 429 waited at least the server's `Retry-After`.
    fn assert_retry_after_honoured(&self) {
        for retry in &self.retries {
            let after = retry["retry_after_s"]
                .as_u64()
                .unwrap_or_else(|| panic!("a 429 without Retry-After: {retry}"));
            assert!(after >= 1, "{retry}");
            assert!(
                retry["wait_ms"].as_u64().unwrap() >= after * 1000,
                "waited less than Retry-After: {retry}"
            );
        }
    }
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Runs `body`, cleans up even when it panicked, then lets the panic through.
async fn with_cleanup<F, Fut>(throttled: std::sync::Arc<Throttled>, body: F)
where
    F: FnOnce(std::sync::Arc<Throttled>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let outcome = tokio::spawn(body(throttled.clone())).await;
    throttled.cleanup().await;
    if let Err(err) = outcome {
        std::panic::resume_unwind(err.into_panic());
    }
}

/// Throttled from its first request on (a blocker holds the seat for 4 s), and with one seat for
/// its 16 concurrent requests throughout, install, wait and finally still do their whole job.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttled_install_wait_finally_retry_after_429_and_complete() {
    let Some(throttled) = Throttled::new("throttled_lifecycle", 4).await else {
        return;
    };
    let throttled = std::sync::Arc::new(throttled);
    with_cleanup(throttled, |t| async move {
        let started = Instant::now();
        let blocker = t.start_blocking(1).await;
        let mut args = [
            &common::INSTALL_BATCH_EXAMPLE[..],
            &[
                "--create-namespace",
                "--timeout",
                "90s",
            ]
        ].concat();
        args.extend(t.job_ref());
        let install = t.run(&args).await;
        assert!(install.status.success(), "install failed:\n{}", stderr(&install));
        blocker.await.unwrap();
        let during_install = Throttling::of(&[&install]);
        assert!(
            during_install
                .retries
                .iter()
                .any(|r| r["what"] == "list data channels"),
            "the first request, made while the blocker held the seat, was not retried: {during_install:?}"
        );

        let wait = t.run(&[&["wait", "--timeout", "90s"][..], &t.job_ref()].concat()).await;
        assert!(wait.status.success(), "wait failed:\n{}", stderr(&wait));
        let finally = t.run(&[&["finally"][..], &t.job_ref()].concat()).await;
        assert!(finally.status.success(), "finally failed:\n{}", stderr(&finally));

        let record: Api<ConfigMap> = Api::namespaced(t.admin.clone(), &t.job_namespace);
        let record = record
            .get(&format!("modelops-job-{}", t.job_id))
            .await
            .unwrap()
            .data
            .unwrap();
        assert_eq!(record["phase"], "Uninstalled");
        assert_eq!(record["inventory"], "");

        let seen = Throttling::of(&[&install, &wait, &finally]);
        seen.assert_retry_after_honoured();
        assert!(seen.gave_up.is_empty(), "{seen:?}");
        let rejected = t.rejected().await;
        eprintln!(
            "throttled lifecycle: {rejected} requests rejected with 429 by APF; the binary retried \
             {} (install {}), {} watch restarts; {:.1} s",
            seen.retries.len(),
            during_install.retries.len(),
            seen.watch_errors,
            started.elapsed().as_secs_f64()
        );
        // Real 429s, and the binary saw every one of them (the blocker was never rejected: it
        // came first).
        assert!(rejected >= 1);
        assert_eq!(rejected, seen.received(), "{seen:#?}");
    })
    .await;
}

/// Throttled for longer than its retry budget (`--api-retry-budget 8s` here), install gives up on
/// the first request once the next wait would overrun the budget, with exit code 3 and the 429 in
/// its error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn persistent_throttling_fails_with_exit_3_after_the_retry_budget() {
    let Some(throttled) = Throttled::new("persistent_throttling", 10).await else {
        return;
    };
    let throttled = std::sync::Arc::new(throttled);
    with_cleanup(throttled, |t| async move {
        // Blocked for up to 4 × 10 s, far longer than the 8 s budget.
        let blocker = t.start_blocking(4).await;
        let results = tempfile::tempdir().unwrap();
        let results_dir = results.path().display().to_string();
        let mut args = [
            &common::INSTALL_BATCH_EXAMPLE[..],
            &[
                "--create-namespace",
                "--api-retry-budget",
                "8s",
                "--results-dir",
                &results_dir,
            ],
        ]
        .concat();
        args.extend(t.job_ref());
        let started = Instant::now();
        let install = t.run(&args).await;
        let elapsed = started.elapsed();
        blocker.abort();

        assert_eq!(install.status.code(), Some(3), "{}", stderr(&install));
        let seen = Throttling::of(&[&install]);
        seen.assert_retry_after_honoured();
        assert_eq!(seen.gave_up.len(), 1, "{seen:#?}");
        let gave_up = &seen.gave_up[0];
        let last = gave_up["attempts"].as_u64().unwrap();
        // The request given up on was retried after every attempt but the last, each time after
        // a 429 and a wait of at least Retry-After (1 s): 8 s leave room for 4 to 7 attempts.
        let attempts: Vec<u64> = seen
            .retries
            .iter()
            .filter(|r| r["what"] == gave_up["what"])
            .map(|r| r["attempt"].as_u64().unwrap())
            .collect();
        assert_eq!(attempts, (1..last).collect::<Vec<_>>(), "{seen:#?}");
        assert!((4..=8).contains(&last), "{seen:#?}");
        // Within the budget, and not the minutes kube-client's own retry layer would have taken.
        let seconds = gave_up["seconds"].as_f64().unwrap();
        assert!(
            (3.0..=8.0).contains(&seconds) && elapsed < Duration::from_secs(20),
            "{gave_up} {elapsed:?}"
        );
        let error = &common::final_error_text(&stderr(&install));
        // Install's first two reads run together; the one given up on first is reported.
        let expected = match gave_up["what"].as_str().unwrap() {
            "list data channels" => "error: list data channel ConfigMaps",
            "read the globals ConfigMap" => "error: cannot read ConfigMap",
            other => panic!("install gave up on {other} before its first reads"),
        };
        assert!(error.starts_with(expected), "{error}");
        assert!(
            error.contains("Too many requests")
                && error.contains(&format!("still failing after {last} attempts")),
            "{error}"
        );
        // What Tekton shows: the `error` result, one line.
        let result = std::fs::read_to_string(results.path().join("error")).unwrap();
        assert!(
            result.contains("Too many requests")
                && result.contains(&format!("after {last} attempts")),
            "{result}"
        );
        let rejected = t.rejected().await;
        eprintln!(
            "persistent throttling: exit 3 after {:.1} s, {rejected} rejections",
            elapsed.as_secs_f64()
        );
        assert!(rejected >= last, "{rejected}");
    })
    .await;
}

/// Requests that once bypassed the retry policy (issue 12 item 8) are retried like every other:
/// the namespace create (here install's first request: offline channels, no globals ConfigMap)
/// and the event read of a failure report, each made while a blocker holds the only seat.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namespace_create_and_failure_report_reads_are_retried() {
    let Some(throttled) = Throttled::new("retried_everywhere", 4).await else {
        return;
    };
    let throttled = std::sync::Arc::new(throttled);
    with_cleanup(throttled, |t| async move {
        let blocker = t.start_blocking(1).await;
        let mut args = [
            &common::INSTALL_BATCH_EXAMPLE[..],
            &[
                "--channels",
                "examples/channels",
                "--globals-configmap=false",
                "--create-namespace",
                "--timeout",
                "90s",
                "--set",
                "scoring-flow.podAnnotations.modelops\\.io/test-complete-delay=1h",
            ],
        ]
        .concat();
        args.extend(t.job_ref());
        let install = t.run(&args).await;
        assert!(install.status.success(), "install failed:\n{}", stderr(&install));
        blocker.await.unwrap();
        let create = format!("create namespace {}", t.job_namespace);
        let seen = Throttling::of(&[&install]);
        assert!(
            seen.retries.iter().any(|r| r["what"] == create.as_str()),
            "the namespace create was not retried: {seen:#?}"
        );

        // wait watches; a scoring service pod fails while the blocker holds the seat, so the
        // failure report's event read is throttled.
        let waiter = {
            let t = t.clone();
            tokio::spawn(async move {
                t.run(&[&["wait", "--timeout", "90s"][..], &t.job_ref()].concat()).await
            })
        };
        tokio::time::sleep(Duration::from_secs(4)).await;
        let pods: Api<k8s_openapi::api::core::v1::Pod> =
            Api::namespaced(t.admin.clone(), &t.job_namespace);
        let service_pod = pods
            .list(&kube::api::ListParams::default().labels("app.kubernetes.io/component=scoring-service"))
            .await
            .unwrap()
            .items
            .into_iter()
            .find(|p| p.spec.as_ref().and_then(|s| s.node_selector.as_ref()).is_none_or(|n| n.get("kubernetes.io/os").map(String::as_str) != Some("windows")))
            .expect("a scoring service pod");
        let pod_name = service_pod.metadata.name.unwrap();
        let blocker = t.start_blocking(2).await;
        let annotate = json!({"metadata": {"annotations": {"modelops.io/test-fail": "failed", "modelops.io/test-exit-code": "3"}}});
        pods.patch(&pod_name, &PatchParams::default(), &Patch::Merge(&annotate))
            .await
            .unwrap();
        let wait = waiter.await.unwrap();
        blocker.abort();
        let message = stderr(&wait);
        assert_eq!(wait.status.code(), Some(1), "{message}");
        let seen = Throttling::of(&[&wait]);
        assert!(
            seen.retries
                .iter()
                .any(|r| r["what"] == format!("list events of pod {pod_name}").as_str()),
            "the event read was not retried: {seen:#?}"
        );
        assert!(message.contains("recent events:"), "{message}");
        seen.assert_retry_after_honoured();
    })
    .await;
}
