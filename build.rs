//! Records the git commit for `--version` (a container build without `.git` passes
//! MODELOPS_GIT_COMMIT instead), and reads the numbers of the mimalloc options `main` sets from
//! the mimalloc.h the allocator is compiled from: the -sys crate has no constants for them.
use std::process::Command;

fn main() {
    mimalloc_options();
    println!("cargo:rerun-if-env-changed=MODELOPS_GIT_COMMIT");
    // Where HEAD and the refs are: `.git/` in a clone, elsewhere in a worktree (a path that does
    // not exist makes cargo rerun this script, and relink, on every build).
    for (flag, fallback) in [("HEAD", ".git/HEAD"), ("refs", ".git/refs")] {
        let path = git(&["rev-parse", "--git-path", flag]).unwrap_or_else(|| fallback.into());
        println!("cargo:rerun-if-changed={path}");
    }
    let commit = std::env::var("MODELOPS_GIT_COMMIT")
        .ok()
        .filter(|c| !c.is_empty())
        .or_else(|| git(&["rev-parse", "--short=12", "HEAD"]));
    println!(
        "cargo:rustc-env=MODELOPS_GIT_COMMIT={}",
        commit.unwrap_or_else(|| "unknown".to_string())
    );
}

/// What a git command prints, trimmed; `None` without git or outside a checkout.
fn git(args: &[&str]) -> Option<String> {
    let output = Command::new("git").args(args).output().ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).trim().to_string())
}

/// Writes `$OUT_DIR/mimalloc_options.rs`: the position of each option `main` tunes in
/// `enum mi_option_e`, so a mimalloc upgrade that renumbers them cannot set the wrong one.
fn mimalloc_options() {
    let include = std::env::var("DEP_MIMALLOC_INCLUDE_DIR").expect("libmimalloc-sys exports it");
    let header = std::path::Path::new(&include).join("mimalloc.h");
    println!("cargo:rerun-if-changed={}", header.display());
    let text = std::fs::read_to_string(&header).expect("mimalloc.h is readable");
    let start = text
        .find("typedef enum mi_option_e {")
        .expect("mimalloc.h declares enum mi_option_e");
    let names: Vec<&str> = text[start..]
        .lines()
        .skip(1)
        .map(|line| line.split("//").next().unwrap_or_default().trim())
        .filter(|entry| !entry.is_empty())
        .map(|entry| entry.trim_end_matches(','))
        .take_while(|entry| *entry != "_mi_option_last")
        .collect();
    assert!(
        names
            .iter()
            .all(|n| n.starts_with("mi_option_") && !n.contains('=')),
        "unexpected entries in enum mi_option_e: {names:?}"
    );
    let position = |option: &str| {
        names
            .iter()
            .position(|n| *n == option)
            .unwrap_or_else(|| panic!("mimalloc.h has no {option}"))
    };
    let code = format!(
        "const ARENA_EAGER_COMMIT: libmimalloc_sys::mi_option_t = {};\n\
         const PURGE_DELAY: libmimalloc_sys::mi_option_t = {};\n",
        position("mi_option_arena_eager_commit"),
        position("mi_option_purge_delay"),
    );
    let out = std::path::Path::new(&std::env::var("OUT_DIR").unwrap()).join("mimalloc_options.rs");
    std::fs::write(out, code).expect("OUT_DIR is writable");
}
