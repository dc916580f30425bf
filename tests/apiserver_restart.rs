//! Faults end to end (README.md, Lifecycle guarantees), for the other transient fault: the API server is gone. The
//! real kube-apiserver of the local control plane is killed and started again while the real
//! binary works (`scripts/testcluster.sh restart-apiserver SECONDS --controllers`: same flags,
//! port and certificates; then fresh kube-controller-manager and kube-scheduler, whose informers
//! would otherwise stay in client-go's growing backoff for a minute), and the binary rides the
//! outage out within its retry budget (`--api-retry-budget`, default 30 s): refused connections
//! are retried by `with_retry`, broken watches are resumed by `wait`'s watchers. An outage longer
//! than the budget ends install with exit code 3 and an error that says how often and how long
//! it tried.
//!
//! One test function runs the scenarios one after another, and cargo runs test binaries one at a
//! time: no other test ever sees the API server down. Whatever happens, the API server is running
//! and ready again when the test ends (later test binaries use it).
//!
//! Gated like the other cluster tests on `MODELOPS_TEST_KUBECONFIG` (a failure when `CI` is set);
//! the kubeconfig must be the one of `scripts/testcluster.sh` (its state directory holds it).

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Node};
use kube::api::{Api, DeleteParams, ListParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use serde_json::Value;
use std::io::{BufRead as _, BufReader};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

mod common;
use common::root;

const MANAGER: &str = "apiserver-restart-test";

/// The control plane of `scripts/testcluster.sh` and what the test created in it.
struct Scene {
    runtime: tokio::runtime::Runtime,
    admin: Client,
    kubeconfig: String,
    /// `MODELOPS_TESTCLUSTER_DIR` of the running cluster: the kubeconfig's directory.
    state_dir: PathBuf,
    /// Where kube-apiserver listens.
    apiserver: SocketAddr,
    suffix: String,
    /// The `restart-apiserver` in progress, if any: cleanup waits for it.
    outage: Mutex<Option<Child>>,
    namespaces: Mutex<Vec<String>>,
}

impl Scene {
    fn new(test: &str) -> Option<Scene> {
        let kubeconfig = common::kubeconfig_path(test)?;
        let state_dir = Path::new(&kubeconfig).parent().unwrap().to_path_buf();
        assert!(
            state_dir.join("pids/kube-apiserver.pid").is_file(),
            "{test} restarts the API server, so it needs the control plane of \
             scripts/testcluster.sh; {kubeconfig} is not in the state directory of one"
        );
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let config = Kubeconfig::read_from(&kubeconfig).unwrap();
        let server: http::Uri = config.clusters[0]
            .cluster
            .as_ref()
            .unwrap()
            .server
            .as_deref()
            .unwrap()
            .parse()
            .unwrap();
        let apiserver: SocketAddr = format!(
            "{}:{}",
            server.host().unwrap(),
            server.port_u16().unwrap_or(443)
        )
        .parse()
        .unwrap();
        let admin = runtime.block_on(async {
            let config = Config::from_custom_kubeconfig(config, &KubeConfigOptions::default())
                .await
                .unwrap();
            let admin = Client::try_from(config).unwrap();
            common::register_channels(&admin, "datachannels", MANAGER)
                .await
                .unwrap();
            common::ensure_windows_node(&admin, MANAGER).await.unwrap();
            until_nodes_schedulable(&admin).await;
            admin
        });
        Some(Scene {
            runtime,
            admin,
            kubeconfig,
            state_dir,
            apiserver,
            suffix: common::unique_suffix(),
            outage: Mutex::new(None),
            namespaces: Mutex::new(Vec::new()),
        })
    }

    /// A job of its own: (namespace, job id).
    fn job(&self, name: &str) -> (String, String) {
        let namespace = format!("ar-{name}-{}", self.suffix);
        self.namespaces.lock().unwrap().push(namespace.clone());
        (namespace, format!("{name}-{}", self.suffix))
    }

    fn testcluster(&self, args: &[&str]) -> Command {
        let mut command = Command::new(root().join("scripts/testcluster.sh"));
        command
            .args(args)
            .env("MODELOPS_TESTCLUSTER_DIR", &self.state_dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        command
    }

    /// Kills kube-apiserver and starts it again `seconds` later; returns once it is down.
    fn start_outage(&self, seconds: u32) -> Instant {
        let mut outage = self.outage.lock().unwrap();
        assert!(outage.is_none(), "one outage at a time");
        let child = self
            .testcluster(&["restart-apiserver", &seconds.to_string(), "--controllers"])
            .spawn()
            .expect("scripts/testcluster.sh runs");
        *outage = Some(child);
        drop(outage);
        let started = Instant::now();
        while self.apiserver_listens() {
            assert!(
                started.elapsed() < Duration::from_secs(15),
                "kube-apiserver still accepts connections 15 s after restart-apiserver began"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Instant::now()
    }

    /// Waits until the restarted kube-apiserver is ready (`restart-apiserver` waits for /readyz);
    /// returns how long it was unavailable, as the script measured it.
    fn end_outage(&self) -> Duration {
        let child = self.outage.lock().unwrap().take().expect("an outage");
        let output = child.wait_with_output().unwrap();
        let log = String::from_utf8_lossy(&output.stderr);
        eprintln!(
            "$ scripts/testcluster.sh restart-apiserver ({})\n{log}",
            output.status
        );
        assert!(output.status.success(), "restart-apiserver failed:\n{log}");
        let ms = log
            .split("unavailable for ")
            .nth(1)
            .and_then(|rest| rest.split(' ').next())
            .and_then(|ms| ms.parse().ok())
            .unwrap_or_else(|| panic!("no downtime in the log of restart-apiserver:\n{log}"));
        Duration::from_millis(ms)
    }

    fn apiserver_listens(&self) -> bool {
        TcpStream::connect_timeout(&self.apiserver, Duration::from_millis(500)).is_ok()
    }

    /// The binary with JSON logs, the cluster's kubeconfig and the default retry budget.
    fn command(&self, args: &[&str]) -> Command {
        let mut command = common::binary(&self.kubeconfig, args);
        command
            .args(["--log-format", "json"])
            .env_remove("MODELOPS_API_RETRY_BUDGET");
        common::stand_in_artifact_credentials(&mut command);
        command
    }

    fn run(&self, args: &[&str]) -> Run {
        let started = Instant::now();
        let output = self.command(args).output().expect("the binary runs");
        Run::new(args, output.status, &output.stderr, started.elapsed())
    }

    async fn record(
        &self,
        namespace: &str,
        job_id: &str,
    ) -> std::collections::BTreeMap<String, String> {
        Api::<ConfigMap>::namespaced(self.admin.clone(), namespace)
            .get(&format!("modelops-job-{job_id}"))
            .await
            .unwrap()
            .data
            .unwrap()
    }

    /// Ready again, whatever happened: waits for an outage in progress, then for /readyz, and
    /// starts kube-apiserver itself if it is not running. Then deletes the test's namespaces.
    fn cleanup(&self) {
        if let Some(child) = self.outage.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let output = child.wait_with_output().unwrap();
            eprintln!(
                "cleanup: restart-apiserver ended ({})\n{}",
                output.status,
                String::from_utf8_lossy(&output.stderr)
            );
        }
        if !self.ready_within(Duration::from_secs(20)) {
            eprintln!("cleanup: kube-apiserver is not ready; starting it again");
            let output = self
                .testcluster(&["restart-apiserver", "0", "--controllers"])
                .output()
                .unwrap();
            eprintln!("{}", String::from_utf8_lossy(&output.stderr));
            assert!(
                self.ready_within(Duration::from_secs(60)),
                "kube-apiserver is not ready after the test: later tests will fail"
            );
        }
        let namespaces: Vec<String> = self
            .namespaces
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        self.runtime.block_on(async {
            let api: Api<Namespace> = Api::all(self.admin.clone());
            for namespace in namespaces {
                let _ = api.delete(&namespace, &DeleteParams::background()).await;
            }
        });
    }

    fn ready_within(&self, limit: Duration) -> bool {
        let started = Instant::now();
        self.runtime.block_on(async {
            loop {
                let request = http::Request::get("/readyz").body(Vec::new()).unwrap();
                match self.admin.request_text(request).await {
                    Ok(body) if body.trim() == "ok" => return true,
                    _ if started.elapsed() > limit => return false,
                    _ => tokio::time::sleep(Duration::from_millis(250)).await,
                }
            }
        })
    }
}

/// A node just created (the Windows one, on a fresh cluster) carries the `not-ready` taint until
/// the node lifecycle controller removes it; a request of the controller that an outage breaks
/// leaves it there for good. So every node is schedulable before the first outage. (The real
/// node's own taint `modelops.io/node=real:NoSchedule`, which keeps other tests' pods off it,
/// stays.)
async fn until_nodes_schedulable(admin: &Client) {
    let started = Instant::now();
    loop {
        let nodes = Api::<Node>::all(admin.clone())
            .list(&ListParams::default())
            .await
            .unwrap();
        let unschedulable: Vec<String> = nodes
            .items
            .iter()
            .filter(|node| {
                let tainted = node
                    .spec
                    .as_ref()
                    .and_then(|s| s.taints.as_ref())
                    .is_some_and(|t| t.iter().any(|t| t.key != "modelops.io/node"));
                let ready = node
                    .status
                    .as_ref()
                    .and_then(|s| s.conditions.as_ref())
                    .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
                tainted || !ready
            })
            .map(|node| format!("{:?} {:?}", node.metadata.name, node.spec))
            .collect();
        if unschedulable.is_empty() {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "nodes not ready or still tainted after 60 s: {unschedulable:#?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// One run of the binary: exit code, stderr and its JSON log events.
struct Run {
    code: Option<i32>,
    stderr: String,
    events: Vec<Value>,
    elapsed: Duration,
}

impl Run {
    fn new(
        args: &[&str],
        status: std::process::ExitStatus,
        stderr: &[u8],
        elapsed: Duration,
    ) -> Run {
        let stderr = String::from_utf8_lossy(stderr).into_owned();
        eprintln!(
            "$ modelops-executor {} ({:.1} s, {status})\n{stderr}",
            args.join(" "),
            elapsed.as_secs_f64()
        );
        let events = stderr
            .lines()
            .filter_map(|line| serde_json::from_str::<Value>(line).ok())
            .collect();
        Run {
            code: status.code(),
            stderr,
            events,
            elapsed,
        }
    }

    fn with_message(&self, message: &str) -> Vec<&Value> {
        self.events
            .iter()
            .filter(|e| e["message"] == message)
            .collect()
    }

    /// Retries of requests that got no connection: code 0, the socket's error in the cause.
    fn connection_retries(&self) -> Vec<&Value> {
        self.with_message("transient API error, retrying")
            .into_iter()
            .filter(|e| e["code"] == 0)
            .collect()
    }

    fn assert_rode_out_the_outage(&self, what: &str) {
        assert_eq!(self.code, Some(0), "{what} failed:\n{}", self.stderr);
        assert!(
            self.with_message("transient API error persists; giving up")
                .is_empty(),
            "{}",
            self.stderr
        );
        // kube-client's ERROR line per failed request is not shown: the retries are the news.
        let errors: Vec<&Value> = self
            .events
            .iter()
            .filter(|e| e["level"] == "ERROR")
            .collect();
        assert!(errors.is_empty(), "{what} logged errors: {errors:#?}");
    }
}

/// Install, wait and finally of `examples/batch-fraud` each ride out a kube-apiserver outage of
/// a few seconds (refused connections, broken watches); an outage longer than
/// `--api-retry-budget` ends install with exit 3 and an error saying how often it tried.
#[test]
fn install_wait_finally_ride_out_an_apiserver_restart_and_a_longer_outage_fails_with_exit_3() {
    let Some(scene) = Scene::new("apiserver_restart") else {
        return;
    };
    let started = Instant::now();
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        restarts_are_ridden_out(&scene);
        an_outage_beyond_the_budget_fails_with_exit_3(&scene);
    }));
    scene.cleanup();
    eprintln!(
        "apiserver restart test: {:.1} s",
        started.elapsed().as_secs_f64()
    );
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

fn restarts_are_ridden_out(scene: &Scene) {
    let (namespace, job_id) = scene.job("restart");
    let results = tempfile::tempdir().unwrap();
    let results_dir = results.path().display().to_string();
    let job_ref = ["--job-id", &job_id, "--namespace", &namespace];

    // 1. install starts while kube-apiserver is down (5 s, plus its start-up): its first
    // requests are refused and retried until the restarted server answers.
    scene.start_outage(5);
    let mut args = [
        &common::INSTALL_BATCH_EXAMPLE[..],
        &[
            "--create-namespace",
            "--timeout",
            "90s",
            "--results-dir",
            &results_dir,
            // The flow's Job runs for 10 s, so that `wait` is still watching at the next restart.
            "--set",
            "scoring-flow.podAnnotations.modelops\\.io/test-complete-delay=10s",
        ],
    ]
    .concat();
    args.extend(job_ref);
    let install = scene.run(&args);
    let outage = scene.end_outage();
    install.assert_rode_out_the_outage("install");
    let retries = install.connection_retries();
    assert!(
        retries.iter().any(|r| r["what"] == "list data channels")
            && retries
                .iter()
                .any(|r| r["what"] == "read the globals ConfigMap"),
        "install's first reads were not retried: {retries:#?}"
    );
    // Refused while the server was down (a starting server may also break a connection).
    let refused = retries
        .iter()
        .filter(|r| {
            r["error"]
                .as_str()
                .is_some_and(|e| e.contains("Connection refused"))
        })
        .count();
    assert!(refused >= 2, "{retries:#?}");
    let longest = retries
        .iter()
        .map(|r| r["attempt"].as_u64().unwrap())
        .max()
        .unwrap();
    assert!(
        longest >= 4,
        "a {outage:?} outage took only {longest} attempts: {retries:#?}"
    );
    let record = scene.runtime.block_on(scene.record(&namespace, &job_id));
    assert_eq!(record["phase"], "Installed");
    eprintln!(
        "install: {} retries of refused connections (up to attempt {longest}) over a {:.1} s \
         outage; {:.1} s in all",
        retries.len(),
        outage.as_secs_f64(),
        install.elapsed.as_secs_f64()
    );

    // 2. wait is watching (its first progress line comes after every watch has listed) when
    // kube-apiserver is killed for 3 s: the watches break, resume, and see the Job complete.
    let mut child = scene
        .command(
            &[
                &["wait", "--timeout", "90s", "--results-dir", &results_dir][..],
                &job_ref,
            ]
            .concat(),
        )
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let wait_started = Instant::now();
    let (lines_tx, lines_rx) = std::sync::mpsc::channel::<String>();
    let reader = {
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            let mut all = Vec::new();
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = lines_tx.send(line.clone());
                all.push(line);
            }
            all
        })
    };
    loop {
        let line = lines_rx
            .recv_timeout(Duration::from_secs(60))
            .expect("wait printed no progress line within 60 s");
        let event: Value = serde_json::from_str(&line).unwrap_or_default();
        if event["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("waiting for "))
        {
            break;
        }
        assert!(
            event["message"] != "all ready",
            "the Job completed before the restart: {line}"
        );
    }
    scene.start_outage(3);
    scene.end_outage();
    let status = child.wait().unwrap();
    let wait = Run::new(
        &["wait"],
        status,
        reader.join().unwrap().join("\n").as_bytes(),
        wait_started.elapsed(),
    );
    wait.assert_rode_out_the_outage("wait");
    let interrupted = wait.with_message("watch interrupted, resuming");
    assert!(
        !interrupted.is_empty(),
        "no watch of wait was interrupted by the restart:\n{}",
        wait.stderr
    );
    assert_eq!(
        std::fs::read_to_string(results.path().join("phase")).unwrap(),
        "Succeeded"
    );
    let jobs = scene.runtime.block_on(async {
        Api::<Job>::namespaced(scene.admin.clone(), &namespace)
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
    });
    assert!(!jobs.is_empty());
    for job in jobs {
        let completions = job.spec.as_ref().and_then(|s| s.completions);
        assert_eq!(job.status.and_then(|s| s.succeeded), completions);
    }
    eprintln!(
        "wait: {} watch interruptions, {:.1} s",
        interrupted.len(),
        wait.elapsed.as_secs_f64()
    );

    // 3. finally starts while kube-apiserver is down (3 s): it reads the record, deletes and
    // watches the deletions once the server is back.
    scene.start_outage(3);
    let finally = scene.run(&[&["finally", "--results-dir", &results_dir][..], &job_ref].concat());
    scene.end_outage();
    finally.assert_rode_out_the_outage("finally");
    assert!(
        !finally.connection_retries().is_empty(),
        "finally was not retried:\n{}",
        finally.stderr
    );
    let record = scene.runtime.block_on(scene.record(&namespace, &job_id));
    assert_eq!(record["phase"], "Uninstalled");
    assert_eq!(record["inventory"], "");
}

fn an_outage_beyond_the_budget_fails_with_exit_3(scene: &Scene) {
    let (namespace, job_id) = scene.job("budget");
    let results = tempfile::tempdir().unwrap();
    let results_dir = results.path().display().to_string();
    let down = scene.start_outage(8);
    let install = scene.run(
        &[
            &common::INSTALL_BATCH_EXAMPLE[..],
            &[
                "--create-namespace",
                "--api-retry-budget",
                "3s",
                "--results-dir",
                &results_dir,
                "--job-id",
                &job_id,
                "--namespace",
                &namespace,
            ],
        ]
        .concat(),
    );
    let gave_up_while_down = down.elapsed();
    scene.end_outage();
    assert_eq!(install.code, Some(3), "{}", install.stderr);
    // Given up within the budget, while the server was still down (8 s).
    assert!(
        install.elapsed < Duration::from_secs(6) && gave_up_while_down < Duration::from_secs(8),
        "{:?} {gave_up_while_down:?}",
        install.elapsed
    );
    let gave_up = install.with_message("transient API error persists; giving up");
    assert!(!gave_up.is_empty(), "{}", install.stderr);
    let first = gave_up[0];
    assert_eq!(first["code"], 0, "{first}");
    let attempts = first["attempts"].as_u64().unwrap();
    let seconds = first["seconds"].as_f64().unwrap();
    // 200 ms doubling (upper half): 3 s leave room for 4 to 6 attempts.
    assert!((4..=6).contains(&attempts) && seconds <= 3.0, "{first}");
    // Retried after every attempt but the last.
    let retried: Vec<u64> = install
        .connection_retries()
        .iter()
        .filter(|r| r["what"] == first["what"])
        .map(|r| r["attempt"].as_u64().unwrap())
        .collect();
    assert_eq!(
        retried,
        (1..attempts).collect::<Vec<_>>(),
        "{}",
        install.stderr
    );

    let error = &common::final_error_text(&install.stderr);
    // Install's first two reads run together; the one given up on first is reported.
    let expected = match first["what"].as_str().unwrap() {
        "list data channels" => "error: list data channel ConfigMaps",
        "read the globals ConfigMap" => "error: cannot read ConfigMap",
        other => panic!("install gave up on {other} before its first reads"),
    };
    assert!(error.starts_with(expected), "{error}");
    let still_failing = format!(
        "caused by: no answer from the API server (still failing after {attempts} attempts over "
    );
    assert!(
        error.contains(&still_failing) && error.contains("Connection refused"),
        "{error}"
    );
    assert!(!error.contains("ServiceError"), "{error}");
    // What Tekton shows: the `error` result.
    let result = std::fs::read_to_string(results.path().join("error")).unwrap();
    assert!(
        result.contains(&format!("still failing after {attempts} attempts"))
            && result.contains("Connection refused"),
        "{result}"
    );
    eprintln!(
        "budget: exit 3 after {:.1} s ({attempts} attempts over {seconds:.1} s)",
        install.elapsed.as_secs_f64()
    );
}
