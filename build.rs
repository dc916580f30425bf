//! Records the git commit for `--version`; a container build without `.git` passes
//! MODELOPS_GIT_COMMIT instead.
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=MODELOPS_GIT_COMMIT");
    println!("cargo:rerun-if-changed=.git/HEAD");
    println!("cargo:rerun-if-changed=.git/refs");
    let commit = std::env::var("MODELOPS_GIT_COMMIT")
        .ok()
        .filter(|c| !c.is_empty())
        .or_else(|| {
            let output = Command::new("git")
                .args(["rev-parse", "--short=12", "HEAD"])
                .output()
                .ok()?;
            output
                .status
                .success()
                .then(|| String::from_utf8_lossy(&output.stdout).trim().to_string())
        });
    println!(
        "cargo:rustc-env=MODELOPS_GIT_COMMIT={}",
        commit.unwrap_or_else(|| "unknown".to_string())
    );
}
