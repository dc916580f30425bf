//! `validate` (docs/validation.md): is every scoring service really serving? The TFX
//! InfraValidator's step after WaitUntilRunning, over the Open Inference Protocol.
//!
//! LOAD_ONLY: the server is live and ready **and** every model version answers ready (a server
//! can be ready with no model loaded: SeldonIO/MLServer#2056). A model with sample requests
//! (LOAD_AND_QUERY) is then asked each of them, one at a time, and every answer checked. What is
//! not there yet is asked again until the deadline; a wrong answer is final.
//!
//! This module judges and schedules; the HTTP requests go through a [`Transport`], which
//! `cluster::proxy` implements over the API server's service proxy.

pub mod check;
pub mod samples;

use check::{Answer, Judgement};
use samples::{FileEntry, Sample};
use serde_json::Value;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::Semaphore;
use tokio::time::Instant;

/// A scoring service of the job and the models it must serve.
#[derive(Debug, Clone, PartialEq)]
pub struct Service {
    pub name: String,
    pub port: u16,
    pub models: Vec<ModelUnderTest>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ModelUnderTest {
    pub name: String,
    pub version: String,
    /// Empty: LOAD_ONLY for this model.
    pub samples: Vec<Sample>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Every model loaded; a model with sample requests is also queried (the default).
    Auto,
    /// Every model loaded; sample requests are not sent.
    LoadOnly,
    /// Every model loaded and queried: a model without sample requests is an input error.
    LoadAndQuery,
}

impl Mode {
    pub const NAMES: [&'static str; 3] = ["auto", "load-only", "load-and-query"];
}

impl std::str::FromStr for Mode {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "auto" => Ok(Mode::Auto),
            "load-only" => Ok(Mode::LoadOnly),
            "load-and-query" => Ok(Mode::LoadAndQuery),
            other => Err(format!("unknown validation mode `{other}`")),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Options {
    /// The TFX maximum loading time: until then, what is not ready is asked again.
    pub timeout: Duration,
    /// Pause between two questions to the same server or model.
    pub interval: Duration,
    /// Requests in flight at once over all services (one per model at most, always).
    pub concurrency: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum ValidateError {
    #[error("the model list of scoring service `{service}` (ConfigMap {config_map}) is invalid")]
    ModelList {
        service: String,
        config_map: String,
        #[source]
        source: crate::diagnostics::Diagnostics,
    },
    #[error("the sample requests are invalid")]
    Requests(#[source] crate::diagnostics::Diagnostics),
    #[error("--requests {file}: {reason}")]
    RequestsFor { file: String, reason: String },
    #[error(
        "--mode load-and-query: no sample requests for {0} (give them in --requests or the Model's spec.validation)"
    )]
    MissingSamples(String),
    #[error("job `{0}` has no scoring service to validate")]
    NoServices(String),
    #[error("cannot reach scoring service `{service}`: {reason}")]
    Unreachable { service: String, reason: String },
}

/// One model's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub service: String,
    pub model: String,
    pub version: String,
    /// `Ok(requests answered correctly)` or why the model is not blessed.
    pub outcome: Result<usize, String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub verdicts: Vec<Verdict>,
    /// HTTP requests sent, over all services.
    pub requests: usize,
}

/// The result `validation`: `blessed`, or `not-blessed: ` and a reason per model, within its share
/// of the step's termination message (`tekton::VALIDATION_BUDGET`, counted JSON-encoded; the
/// margin is for escaped characters).
pub const RESULT_LIMIT: usize = crate::tekton::VALIDATION_BUDGET - 128;

impl Report {
    pub fn blessed(&self) -> bool {
        self.verdicts.iter().all(|v| v.outcome.is_ok())
    }

    /// `blessed`, or `not-blessed: <service>/<model>@<version>: <reason>; …`; the reasons that do
    /// not fit in [`RESULT_LIMIT`] bytes are counted instead.
    pub fn result(&self) -> String {
        if self.blessed() {
            return "blessed".into();
        }
        let failed: Vec<String> = self
            .verdicts
            .iter()
            .filter_map(|v| {
                v.outcome
                    .as_ref()
                    .err()
                    .map(|reason| format!("{}/{}@{}: {reason}", v.service, v.model, v.version))
            })
            .collect();
        let mut text = String::from("not-blessed: ");
        for (i, reason) in failed.iter().enumerate() {
            let rest = failed.len() - i;
            let more = format!("; and {rest} more");
            let separator = if i == 0 { "" } else { "; " };
            // Room for this reason and, if later ones must be left out, their count.
            let tail = if rest > 1 { more.len() + 8 } else { 0 };
            if text.len() + separator.len() + reason.len() + tail > RESULT_LIMIT {
                let cut = RESULT_LIMIT
                    .saturating_sub(text.len() + separator.len() + more.len() + '…'.len_utf8());
                if cut >= 40 {
                    text.push_str(separator);
                    text.push_str(cut_at(reason, cut));
                    text.push('…');
                    if rest > 1 {
                        text.push_str(&format!("; and {} more", rest - 1));
                    }
                } else {
                    text.push_str(&more);
                }
                return text;
            }
            text.push_str(separator);
            text.push_str(reason);
        }
        text
    }
}

fn cut_at(text: &str, max: usize) -> &str {
    let mut end = max.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// The HTTP side: `cluster::proxy` over the API server's service proxy.
pub trait Transport: Sync {
    fn get(
        &self,
        service: &Service,
        path: &str,
    ) -> impl Future<Output = Result<Answer, TransportError>> + Send;
    fn post(
        &self,
        service: &Service,
        path: &str,
        body: &Value,
    ) -> impl Future<Output = Result<Answer, TransportError>> + Send;
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransportError {
    /// The request did not get an answer this time (connection reset, timeout): asked again.
    Retryable(String),
    /// Nothing will get through (the API server refuses us: RBAC): validation stops (exit 3).
    Fatal(String),
}

/// The models of a service from its models.json (the chart's `<service>-models` ConfigMap):
/// `[{name, version, validation?, …}]`; `file` names that ConfigMap in errors.
pub fn models_from_list(
    file: &str,
    list: &Value,
) -> Result<Vec<ModelUnderTest>, crate::diagnostics::Diagnostics> {
    use crate::schema::Reader;
    let mut diagnostics = crate::diagnostics::Diagnostics::default();
    let mut models = Vec::new();
    let mut r = Reader::new(crate::diagnostics::Origin::new(file, 1), &mut diagnostics);
    match list.as_array() {
        None => r.error("", "must be a list of models"),
        Some(items) => {
            for (i, item) in items.iter().enumerate() {
                let path = format!("[{i}]");
                let Some(map) = item.as_object() else {
                    r.error(&path, "must be a mapping");
                    continue;
                };
                let name = r.required_string(map, &path, "name");
                let version = r.required_string(map, &path, "version");
                let samples = match map.get("validation") {
                    None | Some(Value::Null) => Vec::new(),
                    Some(v) => samples::read_validation(&mut r, v, &format!("{path}.validation")),
                };
                if let (Some(name), Some(version)) = (name, version) {
                    models.push(ModelUnderTest {
                        name,
                        version,
                        samples,
                    });
                }
            }
        }
    }
    diagnostics.into_result(models)
}

/// Puts the `--requests` file's samples on the job's models (they replace the IR's), and applies
/// the mode: LOAD_ONLY drops every sample, LOAD_AND_QUERY needs some on every model.
pub fn plan(
    mut services: Vec<Service>,
    file: Option<(&str, Vec<FileEntry>)>,
    mode: Mode,
) -> Result<Vec<Service>, ValidateError> {
    if let Some((path, entries)) = file {
        for entry in entries {
            let mut found = false;
            for model in services.iter_mut().flat_map(|s| s.models.iter_mut()) {
                if model.name == entry.name
                    && entry.version.as_ref().is_none_or(|v| v == &model.version)
                {
                    model.samples = entry.samples.clone();
                    found = true;
                }
            }
            if !found {
                let known: Vec<String> = services
                    .iter()
                    .flat_map(|s| s.models.iter().map(|m| format!("{}@{}", m.name, m.version)))
                    .collect();
                return Err(ValidateError::RequestsFor {
                    file: path.to_string(),
                    reason: format!(
                        "model `{}`{} is not served by this job (it serves {})",
                        entry.name,
                        entry
                            .version
                            .map(|v| format!(" version `{v}`"))
                            .unwrap_or_default(),
                        known.join(", ")
                    ),
                });
            }
        }
    }
    match mode {
        Mode::Auto => {}
        Mode::LoadOnly => services
            .iter_mut()
            .flat_map(|s| s.models.iter_mut())
            .for_each(|m| m.samples.clear()),
        Mode::LoadAndQuery => {
            let missing: Vec<String> = services
                .iter()
                .flat_map(|s| s.models.iter())
                .filter(|m| m.samples.is_empty())
                .map(|m| format!("{}@{}", m.name, m.version))
                .collect();
            if !missing.is_empty() {
                return Err(ValidateError::MissingSamples(missing.join(", ")));
            }
        }
    }
    Ok(services)
}

/// Validates every service at once; within a service, the server first, then its models each on
/// their own (one request in flight per model), all under one bound of requests in flight.
pub async fn validate<T: Transport>(
    transport: &T,
    services: &[Service],
    options: &Options,
) -> Result<Report, ValidateError> {
    let run = Run {
        transport,
        deadline: Instant::now() + options.timeout,
        options,
        in_flight: Semaphore::new(options.concurrency.max(1)),
        requests: AtomicUsize::new(0),
    };
    let per_service = futures::future::join_all(services.iter().map(|s| run.service(s))).await;
    let mut verdicts = Vec::new();
    for outcome in per_service {
        verdicts.extend(outcome?);
    }
    Ok(Report {
        verdicts,
        requests: run.requests.load(Ordering::Relaxed),
    })
}

struct Run<'a, T> {
    transport: &'a T,
    deadline: Instant,
    options: &'a Options,
    in_flight: Semaphore,
    requests: AtomicUsize,
}

/// Why a check ended without passing.
enum Stop {
    Failed(String),
    Fatal(String),
}

impl<T: Transport> Run<'_, T> {
    async fn service(&self, service: &Service) -> Result<Vec<Verdict>, ValidateError> {
        let verdict = |model: &ModelUnderTest, outcome| Verdict {
            service: service.name.clone(),
            model: model.name.clone(),
            version: model.version.clone(),
            outcome,
        };
        for path in ["/v2/health/live", "/v2/health/ready"] {
            match self
                .ask(|| self.get(service, path, check::judge_ready))
                .await
            {
                Ok(()) => {}
                Err(Stop::Fatal(reason)) => return Err(unreachable(service, reason)),
                Err(Stop::Failed(reason)) => {
                    let reason = format!("server not ready: {reason}");
                    return Ok(service
                        .models
                        .iter()
                        .map(|m| verdict(m, Err(reason.clone())))
                        .collect());
                }
            }
        }
        let outcomes =
            futures::future::join_all(service.models.iter().map(|m| self.model(service, m))).await;
        let mut verdicts = Vec::with_capacity(outcomes.len());
        for (model, outcome) in service.models.iter().zip(outcomes) {
            let outcome = match outcome {
                Ok(queried) => Ok(queried),
                Err(Stop::Failed(reason)) => Err(reason),
                Err(Stop::Fatal(reason)) => return Err(unreachable(service, reason)),
            };
            verdicts.push(verdict(model, outcome));
        }
        Ok(verdicts)
    }

    /// The model version is ready, then answers each sample right.
    async fn model(&self, service: &Service, model: &ModelUnderTest) -> Result<usize, Stop> {
        let base = format!("/v2/models/{}/versions/{}", model.name, model.version);
        let ready = format!("{base}/ready");
        self.ask(|| self.get(service, &ready, check::judge_ready))
            .await
            .map_err(|stop| match stop {
                Stop::Failed(reason) => Stop::Failed(format!("model not ready: {reason}")),
                fatal => fatal,
            })?;
        let infer = format!("{base}/infer");
        for (i, sample) in model.samples.iter().enumerate() {
            self.ask(|| async {
                let answer = self
                    .send(|| self.transport.post(service, &infer, &sample.request))
                    .await?;
                Ok(check::judge_inference(i, sample, &answer))
            })
            .await?;
        }
        Ok(model.samples.len())
    }

    async fn get(
        &self,
        service: &Service,
        path: &str,
        judge: fn(&str, &Answer) -> Judgement,
    ) -> Result<Judgement, TransportError> {
        let answer = self.send(|| self.transport.get(service, path)).await?;
        Ok(judge(path, &answer))
    }

    /// One request, counted, under the bound of requests in flight.
    async fn send<F, Fut>(&self, request: F) -> Result<Answer, TransportError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Answer, TransportError>>,
    {
        let _permit = self
            .in_flight
            .acquire()
            .await
            .expect("the semaphore is never closed");
        self.requests.fetch_add(1, Ordering::Relaxed);
        request().await
    }

    /// Asks until the answer passes or fails for good, or the deadline passes (then the last
    /// reason it was not yet there).
    async fn ask<F, Fut>(&self, mut question: F) -> Result<(), Stop>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<Judgement, TransportError>>,
    {
        loop {
            let not_yet = match question().await {
                Ok(Judgement::Pass) => return Ok(()),
                Ok(Judgement::Fail(reason)) => return Err(Stop::Failed(reason)),
                Err(TransportError::Fatal(reason)) => return Err(Stop::Fatal(reason)),
                Ok(Judgement::NotYet(reason)) | Err(TransportError::Retryable(reason)) => reason,
            };
            if Instant::now() + self.options.interval >= self.deadline {
                return Err(Stop::Failed(format!(
                    "still not after {}s: {not_yet}",
                    self.options.timeout.as_secs()
                )));
            }
            tokio::time::sleep(self.options.interval).await;
        }
    }
}

fn unreachable(service: &Service, reason: String) -> ValidateError {
    ValidateError::Unreachable {
        service: service.name.clone(),
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::collections::HashMap;
    use std::sync::Mutex;

    fn model(name: &str, version: &str) -> ModelUnderTest {
        ModelUnderTest {
            name: name.into(),
            version: version.into(),
            samples: Vec::new(),
        }
    }

    fn sample(x: i64) -> Sample {
        Sample {
            request: json!({"inputs": [{"name": "x", "shape": [1], "datatype": "INT64", "data": [x]}]}),
            expected: None,
        }
    }

    fn service(name: &str, models: Vec<ModelUnderTest>) -> Service {
        Service {
            name: name.into(),
            port: 8080,
            models,
        }
    }

    #[test]
    fn a_model_list_gives_models_and_their_ir_samples() {
        let list = json!([
            {"name": "iris", "format": "PYTHON_BINARY", "version": "1", "uri": "s3://b/iris.joblib"},
            {"name": "wine", "version": 2, "uri": "s3://b/wine.joblib", "validation": {"requests": [
                {"request": {"inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "data": [1]}]}}]}},
        ]);
        let models = models_from_list("configmap/svc-models", &list).unwrap();
        assert_eq!(models[0], model("iris", "1"));
        assert_eq!(
            (models[1].version.as_str(), models[1].samples.len()),
            ("2", 1)
        );
        let err = models_from_list("configmap/svc-models", &json!([{"name": "x"}, {"name": "y", "version": "1", "validation": {"requests": "no"}}]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("configmap/svc-models"), "{err}");
        assert!(err.contains("[0].version: is required"), "{err}");
        assert!(
            err.contains("[1].validation.requests: must be a list"),
            "{err}"
        );
    }

    #[test]
    fn the_requests_file_replaces_samples_and_the_mode_decides_what_is_asked() {
        let mut iris = model("iris", "1");
        iris.samples = vec![sample(1)];
        let services = vec![service(
            "py",
            vec![iris, model("wine", "1"), model("wine", "2")],
        )];
        let file = vec![FileEntry {
            name: "wine".into(),
            version: Some("2".into()),
            samples: vec![sample(7), sample(8)],
        }];
        let planned = plan(services.clone(), Some(("req.yaml", file)), Mode::Auto).unwrap();
        let counts: Vec<usize> = planned[0].models.iter().map(|m| m.samples.len()).collect();
        assert_eq!(counts, [1, 0, 2]);
        let load_only = plan(planned.clone(), None, Mode::LoadOnly).unwrap();
        assert!(load_only[0].models.iter().all(|m| m.samples.is_empty()));
        match plan(planned, None, Mode::LoadAndQuery) {
            Err(ValidateError::MissingSamples(missing)) => assert_eq!(missing, "wine@1"),
            other => panic!("{other:?}"),
        }
        let unknown = vec![FileEntry {
            name: "irs".into(),
            version: None,
            samples: vec![sample(1)],
        }];
        let err = plan(services, Some(("req.yaml", unknown)), Mode::Auto)
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "--requests req.yaml: model `irs` is not served by this job (it serves iris@1, wine@1, wine@2)"
        );
    }

    #[test]
    fn the_result_names_each_model_not_blessed_within_the_tekton_limit() {
        let verdict = |model: &str, outcome: Result<usize, String>| Verdict {
            service: "py".into(),
            model: model.into(),
            version: "1".into(),
            outcome,
        };
        let blessed = Report {
            verdicts: vec![verdict("a", Ok(2))],
            requests: 5,
        };
        assert_eq!(blessed.result(), "blessed");
        let two = Report {
            verdicts: vec![
                verdict("a", Ok(0)),
                verdict("b", Err("model not ready: x".into())),
                verdict("c", Err("request 1: y".into())),
            ],
            requests: 5,
        };
        assert_eq!(
            two.result(),
            "not-blessed: py/b@1: model not ready: x; py/c@1: request 1: y"
        );
        let many = Report {
            verdicts: (0..200)
                .map(|i| verdict(&format!("m{i}"), Err("é".repeat(30))))
                .collect(),
            requests: 0,
        };
        let text = many.result();
        assert!(text.len() <= RESULT_LIMIT, "{}", text.len());
        assert!(text.starts_with("not-blessed: py/m0@1: é"), "{text}");
        assert!(text.contains(" more"), "{}", &text[text.len() - 40..]);
        let huge = Report {
            verdicts: vec![verdict("a", Err("x".repeat(9000)))],
            requests: 0,
        };
        assert!(huge.result().len() <= RESULT_LIMIT);
    }

    /// A model server on inline data: each path's answers in turn (the last one repeats), and
    /// what was in flight.
    #[derive(Default)]
    struct Scripted {
        answers: Mutex<HashMap<String, Vec<Answer>>>,
        in_flight: Mutex<HashMap<String, usize>>,
        most_in_flight_per_model: Mutex<usize>,
        most_in_flight: Mutex<usize>,
    }

    impl Scripted {
        fn on(self, path: &str, answers: &[(u16, &str)]) -> Self {
            let answers = answers
                .iter()
                .map(|(s, b)| Answer {
                    status: *s,
                    body: b.to_string(),
                })
                .collect();
            self.answers.lock().unwrap().insert(path.into(), answers);
            self
        }

        async fn answer(&self, path: &str) -> Result<Answer, TransportError> {
            // Model paths are counted per model; health paths (one service each) as themselves
            // with a unique key, so only the total counts them.
            static CALL: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
            let model = if path.starts_with("/v2/models/") {
                path.split('/').take(4).collect::<Vec<_>>().join("/")
            } else {
                format!("{path} #{}", CALL.fetch_add(1, Ordering::Relaxed))
            };
            {
                let mut in_flight = self.in_flight.lock().unwrap();
                *in_flight.entry(model.clone()).or_default() += 1;
                let per_model = *in_flight.get(&model).unwrap();
                let total: usize = in_flight.values().sum();
                let mut most = self.most_in_flight_per_model.lock().unwrap();
                *most = (*most).max(per_model);
                let mut most_total = self.most_in_flight.lock().unwrap();
                *most_total = (*most_total).max(total);
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
            *self.in_flight.lock().unwrap().get_mut(&model).unwrap() -= 1;
            let mut answers = self.answers.lock().unwrap();
            let queue = answers.entry(path.into()).or_insert_with(|| {
                vec![Answer {
                    status: 200,
                    body: "{}".into(),
                }]
            });
            Ok(if queue.len() > 1 {
                queue.remove(0)
            } else {
                queue[0].clone()
            })
        }
    }

    impl Transport for Scripted {
        async fn get(&self, _: &Service, path: &str) -> Result<Answer, TransportError> {
            self.answer(path).await
        }
        async fn post(&self, _: &Service, path: &str, _: &Value) -> Result<Answer, TransportError> {
            self.answer(path).await
        }
    }

    fn options(concurrency: usize) -> Options {
        Options {
            timeout: Duration::from_secs(30),
            interval: Duration::from_secs(2),
            concurrency,
        }
    }

    const ANSWER: &str = r#"{"outputs":[{"name":"p","shape":[1],"datatype":"INT64","data":[1]}]}"#;

    #[tokio::test(start_paused = true)]
    async fn a_ready_server_is_not_trusted_until_each_model_is_ready() {
        let server = Scripted::default()
            .on(
                "/v2/models/slow/versions/1/ready",
                &[(404, "loading"), (404, "loading"), (200, "")],
            )
            .on(
                "/v2/models/broken/versions/1/ready",
                &[(400, "{\"error\":\"Model broken not found\"}")],
            )
            .on(
                "/v2/models/slow/versions/1/infer",
                &[(503, "warming up"), (200, ANSWER)],
            );
        let mut slow = model("slow", "1");
        slow.samples = vec![sample(1)];
        let services = [service("py", vec![slow, model("broken", "1")])];
        let report = validate(&server, &services, &options(4)).await.unwrap();
        assert_eq!(report.verdicts[0].outcome, Ok(1));
        assert_eq!(
            report.verdicts[1].outcome,
            Err("model not ready: still not after 30s: GET /v2/models/broken/versions/1/ready answered 400 Bad Request: {\"error\":\"Model broken not found\"}".into())
        );
        assert!(!report.blessed());
        // live + ready, slow: 3 readiness + 2 inference, broken: one every 2s for 30s.
        assert_eq!(report.requests, 2 + 5 + 15, "{report:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_server_that_never_gets_ready_fails_all_its_models_with_its_reason() {
        let server = Scripted::default().on(
            "/v2/health/ready",
            &[(503, "no endpoints available for service \"py\"")],
        );
        let services = [service("py", vec![model("a", "1"), model("b", "1")])];
        let report = validate(&server, &services, &options(4)).await.unwrap();
        for verdict in &report.verdicts {
            let reason = verdict.outcome.as_ref().unwrap_err();
            assert!(
                reason.starts_with(
                    "server not ready: still not after 30s: GET /v2/health/ready answered 503"
                ),
                "{reason}"
            );
        }
    }

    #[tokio::test(start_paused = true)]
    async fn requests_in_flight_are_one_per_model_and_bounded_overall() {
        let server = Scripted::default();
        let services: Vec<Service> = (0..4)
            .map(|s| {
                let models = (0..10)
                    .map(|m| {
                        let mut model = model(&format!("m{s}-{m}"), "1");
                        model.samples = (0..3).map(sample).collect();
                        model
                    })
                    .collect();
                service(&format!("s{s}"), models)
            })
            .collect();
        // Answers of `{}` have no outputs: every model fails on its first request, so make them valid.
        for s in &services {
            for m in &s.models {
                let path = format!("/v2/models/{}/versions/1/infer", m.name);
                server.answers.lock().unwrap().insert(
                    path,
                    vec![Answer {
                        status: 200,
                        body: ANSWER.into(),
                    }],
                );
            }
        }
        let report = validate(&server, &services, &options(8)).await.unwrap();
        assert!(report.blessed(), "{:?}", report.result());
        assert_eq!(report.requests, 4 * 2 + 40 * (1 + 3));
        assert_eq!(*server.most_in_flight_per_model.lock().unwrap(), 1);
        assert_eq!(*server.most_in_flight.lock().unwrap(), 8);
    }

    #[tokio::test(start_paused = true)]
    async fn a_refusing_api_server_stops_validation() {
        struct Refusing;
        impl Transport for Refusing {
            async fn get(&self, _: &Service, _: &str) -> Result<Answer, TransportError> {
                Err(TransportError::Fatal("403 Forbidden".into()))
            }
            async fn post(
                &self,
                _: &Service,
                _: &str,
                _: &Value,
            ) -> Result<Answer, TransportError> {
                unreachable!()
            }
        }
        let err = validate(
            &Refusing,
            &[service("py", vec![model("a", "1")])],
            &options(1),
        )
        .await
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "cannot reach scoring service `py`: 403 Forbidden"
        );
    }
}
