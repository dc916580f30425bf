//! One thin `exec` per subcommand over the library stages.

mod await_services;
mod build_plan;
mod cancel;
mod diff;
mod fetch_models;
mod finally;
mod install;
mod lint;
mod package;
mod preprocess;
mod render;
mod status;
mod validate;
mod wait;

use crate::cli::Command;
use crate::settings::Settings;
use crate::{Error, ExitStatus};

pub use crate::job::{Prepared, prepare};

pub async fn run(command: Command, settings: &Settings) -> Result<ExitStatus, Error> {
    match command {
        Command::Render(args) => render::exec(args, settings).await,
        Command::Preprocess(args) => preprocess::exec(args, settings).await,
        Command::Package(args) => package::exec(args, settings),
        Command::Install(args) => install::exec(args, settings).await,
        Command::Wait(args) => wait::exec(args, settings).await,
        Command::Validate(args) => validate::exec(args, settings).await,
        Command::Finally(args) => finally::exec(args, settings).await,
        Command::Cancel(args) => cancel::exec(args, settings).await,
        Command::Status(args) => status::exec(args, settings).await,
        Command::Jobs(args) => status::exec_jobs(args, settings).await,
        Command::BuildPlan(args) => build_plan::exec(args, settings),
        Command::Lint(args) => lint::exec(args, settings).await,
        Command::Diff(args) => diff::exec(args, settings).await,
        Command::FetchModels(args) => fetch_models::exec(args).await,
        Command::AwaitServices(args) => await_services::exec(args).await,
        Command::Interface => {
            println!("{:#}", crate::cli::interface());
            Ok(ExitStatus::Success)
        }
    }
}

/// The Tekton results of one task's subcommand, written when `--results-dir` is given.
struct Results<'a> {
    subcommand: &'static str,
    dir: Option<&'a std::path::Path>,
}

impl<'a> Results<'a> {
    fn new(subcommand: &'static str, dir: Option<&'a std::path::Path>) -> Self {
        Results { subcommand, dir }
    }

    fn write(&self, name: &str, value: &str) -> Result<(), Error> {
        // The Task declares what `interface` lists; writing anything else would fail the TaskRun.
        debug_assert!(
            crate::tekton::results_of(self.subcommand).contains(&name),
            "{} writes the undeclared result {name}",
            self.subcommand
        );
        crate::tekton::write(self.dir, name, value).map_err(|source| Error::Output {
            path: format!("results/{name}"),
            source,
        })
    }

    /// A cluster task's outcome, with its `error` result (one line) written when it failed;
    /// best effort, since the command is failing already.
    fn with_error(&self, outcome: Result<ExitStatus, Error>) -> Result<ExitStatus, Error> {
        if let Err(err) = &outcome {
            let line = crate::tekton::error_line(&crate::error_chain::one_line(err));
            if let Err(write_err) = self.write(crate::tekton::ERROR, &line) {
                tracing::error!(error = %write_err, "could not write the error result");
            }
        }
        outcome
    }
}
