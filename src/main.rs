use clap::Parser;
use modelops_executor::{cli::Cli, commands, logging};
use std::process::ExitCode;

fn main() -> ExitCode {
    forget_empty_settings();
    let cli = Cli::parse();
    logging::init(&cli.global);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return ExitCode::from(3);
        }
    };
    match runtime.block_on(commands::run(cli.command)) {
        Ok(status) => status.into(),
        Err(err) => {
            eprintln!("{}", err.chain());
            err.exit_status().into()
        }
    }
}

/// Tekton passes every task parameter, so an optional one that was not given arrives as an
/// empty `MODELOPS_*` variable; treat it as unset rather than as an empty value.
fn forget_empty_settings() {
    let empty: Vec<_> = std::env::vars_os()
        .filter(|(name, value)| {
            value.is_empty() && name.to_str().is_some_and(|n| n.starts_with("MODELOPS_"))
        })
        .map(|(name, _)| name)
        .collect();
    for name in empty {
        // SAFETY: runs first thing in main, before the runtime or any other thread exists.
        unsafe { std::env::remove_var(name) };
    }
}
