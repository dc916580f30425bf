//! The crate-level error: one variant per stage, each mapped to an exit code (README.md, Exit codes).

use std::process::ExitCode;

/// Exit codes, as README.md lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    Success = 0,
    ScoringFailed = 1,
    BadInput = 2,
    Infrastructure = 3,
    DeadlineExceeded = 4,
    Interrupted = 130,
    Terminated = 143,
}

impl From<ExitStatus> for ExitCode {
    fn from(status: ExitStatus) -> Self {
        ExitCode::from(status as u8)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot load the IR")]
    Fetch(#[from] crate::ir::fetch::FetchError),
    #[error("the IR is invalid")]
    Ir(#[from] crate::ir::IrError),
    #[error("preprocessing failed")]
    Preprocess(#[from] crate::preprocess::PreprocessError),
    #[error("invalid values")]
    Values(#[from] crate::values::ValuesError),
    #[error("cannot load the chart")]
    Chart(#[from] crate::chart::ChartError),
    #[error("rendering failed")]
    Render(#[from] crate::render::RenderError),
    #[error("the model artifacts cannot be fetched")]
    Artifacts(#[source] crate::diagnostics::Diagnostics),
    #[error("the rendered manifests are invalid")]
    Manifest(#[from] crate::manifest::ManifestError),
    #[error(transparent)]
    Cluster(#[from] crate::cluster::ClusterError),
    #[error("cannot plan the container builds")]
    BuildPlan(#[from] crate::buildplan::BuildPlanError),
    #[error("cannot read the {what}")]
    Input {
        /// Which input: "data channel registry (--channels)", "globals (--globals)", ...
        what: &'static str,
        #[source]
        source: crate::archive::ArchiveError,
    },
    #[error("fetch-models failed")]
    FetchModels(#[from] crate::artifacts::fetch::FetchModelsError),
    #[error("await-services failed")]
    AwaitServices(#[from] crate::await_services::AwaitError),
    #[error("validation cannot run")]
    Validate(#[from] crate::validate::ValidateError),
    #[error("{0}")]
    Usage(String),
    #[error("cannot write {path}")]
    Output {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

fn is_path_problem(kind: std::io::ErrorKind) -> bool {
    use std::io::ErrorKind as K;
    matches!(
        kind,
        K::PermissionDenied
            | K::NotADirectory
            | K::IsADirectory
            | K::AlreadyExists
            | K::ReadOnlyFilesystem
            | K::InvalidFilename
            | K::NotFound
    )
}

impl Error {
    pub fn exit_status(&self) -> ExitStatus {
        match self {
            Error::Fetch(_)
            | Error::Ir(_)
            | Error::Preprocess(_)
            | Error::Values(_)
            | Error::Chart(_)
            | Error::Render(_)
            | Error::Manifest(_)
            | Error::Artifacts(_)
            | Error::BuildPlan(_)
            | Error::Input { .. }
            | Error::Usage(_) => ExitStatus::BadInput,
            Error::Cluster(err) => cluster_status(err),
            // A model that cannot be fetched is the model's (or its store's) fault: "blame the
            // model", as a failed scoring service; an unreadable model list is bad input.
            Error::FetchModels(crate::artifacts::fetch::FetchModelsError::ModelList { .. }) => {
                ExitStatus::BadInput
            }
            Error::FetchModels(_) => ExitStatus::ScoringFailed,
            Error::AwaitServices(crate::await_services::AwaitError::Deadline { .. }) => {
                ExitStatus::DeadlineExceeded
            }
            Error::AwaitServices(_) => ExitStatus::BadInput,
            // Not blessed is an outcome (exit 1), not an error; what stops validation from
            // running is either our input or the cluster.
            Error::Validate(
                crate::validate::ValidateError::Unreachable { .. }
                | crate::validate::ValidateError::NoServices(_),
            ) => ExitStatus::Infrastructure,
            Error::Validate(_) => ExitStatus::BadInput,
            // A path that cannot be a file (a directory in the way, no permission) is the
            // caller's input; a full disk or a closed pipe is not.
            Error::Output { source, .. } if is_path_problem(source.kind()) => ExitStatus::BadInput,
            Error::Output { .. } => ExitStatus::Infrastructure,
        }
    }

    /// The whole chain, outermost first, one cause per line: what `main` prints.
    pub fn chain(&self) -> String {
        let mut out = format!("error: {self}");
        for cause in crate::error_chain::sources(self).skip(1) {
            match cause.downcast_ref::<kube::Error>() {
                Some(kube::Error::Api(status)) => {
                    // kube's own text repeats the message and appends the whole Status; its
                    // source is that Status again. One line is enough, and the end of the chain.
                    out.push_str(&format!(
                        "\n  caused by: {}",
                        indent_continuation(&format!(
                            "the API server answered {}",
                            crate::error_chain::describe_status(status)
                        ))
                    ));
                    break;
                }
                // `ServiceError: <text>`, and the next cause is that text again.
                Some(kube::Error::Service(_) | kube::Error::HyperError(_)) => continue,
                _ => {}
            }
            out.push_str(&format!(
                "\n  caused by: {}",
                indent_continuation(&cause.to_string())
            ));
        }
        out
    }
}

fn cluster_status(err: &crate::cluster::ClusterError) -> ExitStatus {
    use crate::cluster::{ClusterError as E, wait::Signal};
    match err {
        E::ScoringFailed(_) => ExitStatus::ScoringFailed,
        E::NotOurs(_) => ExitStatus::BadInput,
        E::Deadline { .. } => ExitStatus::DeadlineExceeded,
        E::Cancelled(Signal::Interrupt) => ExitStatus::Interrupted,
        E::Cancelled(Signal::Terminate) => ExitStatus::Terminated,
        _ => ExitStatus::Infrastructure,
    }
}

fn indent_continuation(text: &str) -> String {
    text.replace('\n', "\n    ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::ClusterError;

    fn api_error(message: &str) -> Error {
        let status = kube::core::Status::failure(message, "Invalid").with_code(422);
        ClusterError::api("apply Job ns/score", kube::Error::Api(status.boxed())).into()
    }

    #[test]
    fn an_api_error_is_one_line_with_code_reason_and_message() {
        let chain = api_error("Job.batch \"score\" is invalid: field is immutable").chain();
        assert_eq!(
            chain,
            "error: apply Job ns/score\n  caused by: the API server answered 422 Invalid: \
             Job.batch \"score\" is invalid: field is immutable"
        );
    }

    #[test]
    fn a_connection_error_lists_its_causes_once_without_kube_wrappers() {
        let refused = std::io::Error::new(
            std::io::ErrorKind::ConnectionRefused,
            "Connection refused (os error 111)",
        );
        let err: Error = ClusterError::api(
            "list data channel ConfigMaps in namespace datachannels",
            kube::Error::Service(Box::new(refused)),
        )
        .into();
        assert_eq!(
            err.chain(),
            "error: list data channel ConfigMaps in namespace datachannels\n  \
             caused by: Connection refused (os error 111)"
        );
    }

    #[test]
    fn a_huge_api_message_is_cut_at_a_character_boundary() {
        let message = format!("spec.template: Invalid value: {}", "é".repeat(2000));
        let chain = api_error(&message).chain();
        assert!(chain.contains("the API server answered 422 Invalid: spec.template"));
        assert!(chain.ends_with("more bytes)"), "{chain}");
        assert!(chain.len() < 800, "{} bytes", chain.len());
        assert!(!chain.contains("Status {"), "{chain}");
    }

    #[test]
    fn one_line_joins_every_cause_and_collapses_whitespace() {
        let io = std::io::Error::other("disk\n  full");
        let err = Error::Output {
            path: "results/phase".into(),
            source: io,
        };
        use crate::error_chain::{messages, one_line};
        let messages: Vec<String> = messages(&err).collect();
        assert_eq!(messages.len(), 2, "{messages:?}");
        assert_eq!(messages[1], "disk\n  full");
        assert_eq!(one_line(&err), format!("{}: disk full", messages[0]));
    }
}
