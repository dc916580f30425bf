use clap::Parser;
use modelops_executor::{cli::Cli, commands, logging};
use std::process::ExitCode;

fn main() -> ExitCode {
    forget_empty_settings();
    logging::install_panic_hook();
    let cli = Cli::parse();
    logging::init(&cli.global);
    let log_format = cli.global.log_format;
    let settings = cli.global.settings();
    // One thread for all async work: every command is network-bound, and the CPU-heavy stages
    // (render, parsing, preprocessing) run on threads of their own (`parallel`). Against the
    // multi-threaded runtime it saves the wake-ups between threads: 20-25% of install's and
    // finally's CPU at 10,000 objects with the same wall time, and 4-7% of fetch-models'
    // download time (docs/benchmarks.md).
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return ExitCode::from(3);
        }
    };
    match runtime.block_on(commands::run(cli.command, &settings)) {
        Ok(status) => status.into(),
        Err(err) => {
            let status = err.exit_status();
            eprintln!(
                "{}",
                logging::final_error(log_format, &err.chain(), status as u8)
            );
            status.into()
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

/// mimalloc instead of the system allocator: the job's values are hundreds of thousands of small
/// strings and maps, and glibc's per-chunk headers and per-thread arenas made the peak RSS of a
/// 1,000-flow render twice its live heap (docs/design-choices.md, "Allocator").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Tunes mimalloc before its first allocation: its defaults commit arenas eagerly and return
/// freed pages only after a second, so a short-lived command ends with its peak at twice what it
/// uses. Runs as an ELF constructor because options set in `main` are too late (the runtime has
/// already allocated); a `MIMALLOC_*` variable in the environment still wins. ELF only: elsewhere
/// (a developer's macOS) mimalloc runs with its defaults.
#[cfg(target_os = "linux")]
#[used]
#[unsafe(link_section = ".init_array.00102")]
static TUNE_ALLOCATOR: extern "C" fn() = tune_allocator;

// ARENA_EAGER_COMMIT and PURGE_DELAY, numbered as in the mimalloc.h being compiled (build.rs).
#[cfg(target_os = "linux")]
include!(concat!(env!("OUT_DIR"), "/mimalloc_options.rs"));

#[cfg(target_os = "linux")]
extern "C" fn tune_allocator() {
    let settings = [
        (c"MIMALLOC_ARENA_EAGER_COMMIT", ARENA_EAGER_COMMIT, 0),
        (c"MIMALLOC_PURGE_DELAY", PURGE_DELAY, 10),
    ];
    for (variable, option, value) in settings {
        // SAFETY: single-threaded process start-up; getenv reads the environment without
        // allocating, and mi_option_set only stores the value.
        unsafe {
            if libc::getenv(variable.as_ptr()).is_null() {
                libmimalloc_sys::mi_option_set(option, value);
            }
        }
    }
}
