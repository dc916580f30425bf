//! Tekton results (docs/tekton.md): each result is a file `<results dir>/<name>`, at most 4 KB.
//!
//! Tekton's default transport for results is the step container's termination message: the
//! entrypoint JSON-encodes every result of the step, plus its own `StartedAt` entry, into one
//! message of at most 4,096 bytes; a longer one fails the TaskRun. So the results of one step
//! share that budget, measured as Tekton encodes them (docs/tekton.md "Results"):
//! `endpoints` gets [`ENDPOINTS_BUDGET`] bytes, `validation` [`VALIDATION_BUDGET`], `error`
//! [`ERROR_BUDGET`], every other result
//! [`SMALL_BUDGET`]. What does not fit is never dropped silently: `endpoints` keeps whole lines
//! and ends with a line saying how many more there are and where they are listed; `error` is cut
//! at a character boundary and says so.

use std::borrow::Cow;
use std::path::Path;

/// Tekton's limit for one container's termination message, which carries all of its results.
pub const TERMINATION_MESSAGE_BYTES: usize = 4096;
/// JSON-encoded bytes for `endpoints`.
pub const ENDPOINTS_BUDGET: usize = 2048;
/// JSON-encoded bytes for `error`.
pub const ERROR_BUDGET: usize = 1024;
/// JSON-encoded bytes for `validation` (validate's step writes it beside `error`).
pub const VALIDATION_BUDGET: usize = 2048;
/// JSON-encoded bytes for each other result (a job id, a digest, a phase: far less).
pub const SMALL_BUDGET: usize = 128;

pub const JOB_ID: &str = "job-id";
pub const VALUES_DIGEST: &str = "values-digest";
pub const PHASE: &str = "phase";
pub const ENDPOINTS: &str = "endpoints";
pub const ERROR: &str = "error";
/// `validate`: `blessed` or `not-blessed: <reason per model>`.
pub const VALIDATION: &str = "validation";

/// The results each Tekton task's subcommand writes. Its Task declares exactly these
/// (tekton/validate checks the shipped Tasks against `modelops-executor interface`), and the
/// subcommand writes no other (`commands::Results`).
pub const TASK_RESULTS: [(&str, &[&str]); 5] = [
    ("install", &[JOB_ID, VALUES_DIGEST, PHASE, ENDPOINTS, ERROR]),
    ("wait", &[JOB_ID, ENDPOINTS, PHASE, ERROR]),
    ("validate", &[VALIDATION, ERROR]),
    ("finally", &[JOB_ID, PHASE, ERROR]),
    // No shipped Task runs `cancel`; a Task of the platform's own may.
    ("cancel", &[ERROR]),
];

/// The results `subcommand` writes; none for a subcommand no Task runs.
pub fn results_of(subcommand: &str) -> &'static [&'static str] {
    TASK_RESULTS
        .iter()
        .find(|(name, _)| *name == subcommand)
        .map_or(&[], |(_, results)| results)
}

/// Writes one result, bounded as the module documentation says. Without a results directory
/// (a person at a terminal) nothing is written.
pub fn write(dir: Option<&Path>, name: &str, value: &str) -> std::io::Result<()> {
    let Some(dir) = dir else { return Ok(()) };
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join(name), bounded(name, value).as_bytes())
}

/// The `error` result is one line.
pub fn error_line(error: &str) -> String {
    error.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The value as written: within its budget.
pub fn bounded<'a>(name: &str, value: &'a str) -> Cow<'a, str> {
    match name {
        ENDPOINTS => bounded_lines(value, ENDPOINTS_BUDGET),
        ERROR => bounded_text(
            value,
            ERROR_BUDGET,
            " [cut to fit Tekton's result limit; the step's log has the whole message]",
        ),
        VALIDATION => bounded_text(value, VALIDATION_BUDGET, " [cut]"),
        _ => bounded_text(value, SMALL_BUDGET, " [cut]"),
    }
}

/// Whole lines while they fit, then one line naming how many more there are.
fn bounded_lines(value: &str, budget: usize) -> Cow<'_, str> {
    if json_len(value) <= budget {
        return Cow::Borrowed(value);
    }
    let lines: Vec<&str> = value.lines().collect();
    let overflow = |more: usize| {
        format!(
            "... {more} more (every endpoint is in the job record: modelops-executor status --job-id <job-id>)"
        )
    };
    let mut kept = String::new();
    for (i, line) in lines.iter().enumerate() {
        let candidate = if kept.is_empty() {
            (*line).to_string()
        } else {
            format!("{kept}\n{line}")
        };
        let tail = overflow(lines.len() - i - 1);
        if json_len(&candidate) + json_len("\n") + json_len(&tail) > budget {
            let tail = overflow(lines.len() - i);
            return Cow::Owned(if kept.is_empty() {
                tail
            } else {
                format!("{kept}\n{tail}")
            });
        }
        kept = candidate;
    }
    Cow::Owned(kept)
}

/// Cut at a character boundary so that the text and the marker fit.
fn bounded_text<'a>(value: &'a str, budget: usize, marker: &str) -> Cow<'a, str> {
    if json_len(value) <= budget {
        return Cow::Borrowed(value);
    }
    let room = budget - json_len(marker);
    let mut used = 0;
    let mut end = 0;
    for (i, c) in value.char_indices() {
        used += json_char_len(c);
        if used > room {
            break;
        }
        end = i + c.len_utf8();
    }
    Cow::Owned(format!("{}{marker}", &value[..end]))
}

/// Bytes of the text inside a JSON string as Go's `encoding/json` (Tekton's entrypoint) writes it.
pub fn json_len(value: &str) -> usize {
    value.chars().map(json_char_len).sum()
}

fn json_char_len(c: char) -> usize {
    match c {
        '"' | '\\' | '\n' | '\r' | '\t' => 2,
        // Go escapes HTML characters, the other control characters and the JavaScript line
        // separators as \uXXXX.
        '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => 6,
        c if (c as u32) < 0x20 => 6,
        c => c.len_utf8(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Tekton's termination message of one step with these results, as its entrypoint writes it
    /// (Go's encoding/json: like serde_json, but `<`, `>`, `&`, U+2028 and U+2029 as \uXXXX).
    fn termination_message_len(results: &[(&str, String)]) -> usize {
        let mut entries: Vec<serde_json::Value> = results
            .iter()
            .map(|(key, value)| json!({"key": key, "value": value, "type": 1}))
            .collect();
        entries.push(json!({"key": "StartedAt", "value": "2026-11-30T15:40:58.123Z", "type": 3}));
        let text = serde_json::to_string(&entries).unwrap();
        let html = text
            .chars()
            .filter(|c| matches!(c, '<' | '>' | '&' | '\u{2028}' | '\u{2029}'))
            .count();
        text.len() + html * 4
    }

    fn endpoints(n: usize) -> String {
        (0..n)
            .map(|i| format!("http://scoring-service-pmml-{i:04}.fraud-detection-job-20261130.svc.cluster.local:8080"))
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn a_thousand_endpoints_keep_whole_lines_and_say_how_many_more() {
        let all = endpoints(1000);
        let written = bounded(ENDPOINTS, &all);
        assert!(
            json_len(&written) <= ENDPOINTS_BUDGET,
            "{} bytes",
            json_len(&written)
        );
        let lines: Vec<&str> = written.lines().collect();
        let (last, kept) = lines.split_last().unwrap();
        assert!(kept.len() > 10, "only {} endpoints kept", kept.len());
        for (i, line) in kept.iter().enumerate() {
            assert_eq!(*line, all.lines().nth(i).unwrap());
        }
        assert_eq!(
            *last,
            format!(
                "... {} more (every endpoint is in the job record: modelops-executor status --job-id <job-id>)",
                1000 - kept.len()
            )
        );
        // A list that fits is written as it is.
        assert_eq!(bounded(ENDPOINTS, &endpoints(3)), endpoints(3));
        assert_eq!(bounded(ENDPOINTS, ""), "");
    }

    #[test]
    fn one_endpoint_longer_than_the_budget_leaves_only_the_count() {
        let huge = format!("http://{}.svc:80\nhttp://b.svc:80", "a".repeat(3000));
        assert_eq!(
            bounded(ENDPOINTS, &huge),
            "... 2 more (every endpoint is in the job record: modelops-executor status --job-id <job-id>)"
        );
    }

    #[test]
    fn errors_are_cut_at_a_character_boundary_and_say_so() {
        for long in [
            "é".repeat(5000),
            "\"<&>\"".repeat(1000),
            "x".repeat(ERROR_BUDGET + 1),
        ] {
            let written = bounded(ERROR, &long);
            assert!(
                json_len(&written) <= ERROR_BUDGET,
                "{} bytes",
                json_len(&written)
            );
            assert!(
                written.ends_with("the step's log has the whole message]"),
                "{written}"
            );
            let text = written
                .strip_suffix(
                    " [cut to fit Tekton's result limit; the step's log has the whole message]",
                )
                .unwrap();
            assert!(long.starts_with(text));
        }
        let fits = "x".repeat(ERROR_BUDGET);
        assert_eq!(bounded(ERROR, &fits), fits);
        assert_eq!(error_line("a\n  b\tc"), "a b c");
    }

    /// The worst case of every Task's step: every result at its budget, the largest escapes,
    /// 1,000 scoring flows' endpoints, still within one termination message.
    #[test]
    fn every_steps_results_fit_one_termination_message() {
        let worst_error = "\"<&>".repeat(2000);
        let job_id = "j".repeat(63);
        let digest = format!("sha256:{}", "0".repeat(64));
        let install = [
            (JOB_ID, job_id.clone()),
            (VALUES_DIGEST, digest),
            (PHASE, "Installed".to_string()),
            (ENDPOINTS, endpoints(1000)),
            (ERROR, worst_error.clone()),
        ];
        let wait = [
            (JOB_ID, job_id.clone()),
            (ENDPOINTS, endpoints(1000)),
            (PHASE, "Cancelled".to_string()),
            (ERROR, worst_error.clone()),
        ];
        let validate = [
            (
                VALIDATION,
                format!(
                    "not-blessed: {}",
                    "svc/\"m\"@1: <&> not ready; ".repeat(500)
                ),
            ),
            (ERROR, worst_error.clone()),
        ];
        let finally = [
            (JOB_ID, job_id),
            (PHASE, "Uninstalled".to_string()),
            (ERROR, worst_error),
        ];
        for step in [&install[..], &wait[..], &validate[..], &finally[..]] {
            let written: Vec<(&str, String)> = step
                .iter()
                .map(|(name, value)| (*name, bounded(name, value).into_owned()))
                .collect();
            let len = termination_message_len(&written);
            assert!(len <= TERMINATION_MESSAGE_BYTES, "{len} bytes: {written:?}");
            // Unbounded, the same results would not fit: the budgets are what makes them fit.
            let raw: Vec<(&str, String)> = step.iter().map(|(n, v)| (*n, v.clone())).collect();
            assert!(termination_message_len(&raw) > TERMINATION_MESSAGE_BYTES);
        }
    }

    #[test]
    fn results_are_files_only_with_a_results_dir() {
        let tmp = tempfile::tempdir().unwrap();
        write(Some(tmp.path()), ENDPOINTS, &endpoints(1000)).unwrap();
        let written = std::fs::read_to_string(tmp.path().join(ENDPOINTS)).unwrap();
        assert_eq!(written, bounded(ENDPOINTS, &endpoints(1000)));
        write(None, ERROR, "x").unwrap();
    }
}
