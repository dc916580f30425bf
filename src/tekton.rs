//! Tekton results (DESIGN §8): each result is a file `<results dir>/<name>`, at most 4 KB.

use std::path::Path;

/// Tekton's limit per result (the whole termination message is 4 KB; keep each well inside).
pub const MAX_RESULT_BYTES: usize = 4096;

pub const JOB_ID: &str = "job-id";
pub const VALUES_DIGEST: &str = "values-digest";
pub const PHASE: &str = "phase";
pub const ENDPOINTS: &str = "endpoints";
pub const ERROR: &str = "error";
/// `validate`: `blessed` or `not-blessed: <reason per model>`.
pub const VALIDATION: &str = "validation";

/// Writes one result, cut at a character boundary below the limit. Without a results directory
/// (a person at a terminal) nothing is written.
pub fn write(dir: Option<&Path>, name: &str, value: &str) -> std::io::Result<()> {
    let Some(dir) = dir else { return Ok(()) };
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join(name), truncate(value, MAX_RESULT_BYTES))
}

/// The `error` result is one line.
pub fn error_line(error: &str) -> String {
    error.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn truncate(value: &str, max: usize) -> &str {
    if value.len() <= max {
        return value;
    }
    let mut end = max;
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    &value[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_are_bounded_and_one_line() {
        let tmp = tempfile::tempdir().unwrap();
        write(Some(tmp.path()), ERROR, &"é".repeat(5000)).unwrap();
        let written = std::fs::read_to_string(tmp.path().join(ERROR)).unwrap();
        assert!(written.len() <= MAX_RESULT_BYTES);
        assert_eq!(error_line("a\n  b\tc"), "a b c");
        write(None, ERROR, "x").unwrap();
    }
}
