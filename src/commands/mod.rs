//! One thin `exec` per subcommand over the library stages.

mod inputs;
mod package;
mod preprocess;
mod render;

use crate::cli::Command;
use crate::{Error, ExitStatus};

pub use inputs::{Prepared, prepare};

pub async fn run(command: Command) -> Result<ExitStatus, Error> {
    match command {
        Command::Render(args) => render::exec(args).await,
        Command::Preprocess(args) => preprocess::exec(args).await,
        Command::Package(args) => package::exec(args),
        Command::Install(_) => Err(Error::NotImplemented("install")),
        Command::Wait(_) => Err(Error::NotImplemented("wait")),
        Command::Finally(_) => Err(Error::NotImplemented("finally")),
        Command::Status(_) => Err(Error::NotImplemented("status")),
        Command::Jobs(_) => Err(Error::NotImplemented("jobs")),
        Command::BuildPlan(_) => Err(Error::NotImplemented("build-plan")),
    }
}
