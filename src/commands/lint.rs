//! `lint CHART [-f values.yaml]…`: the findings of [`crate::lint`], printed as `helm lint` prints
//! them; errors exit 1 (as `helm lint` does), warnings do not.

use crate::chart::Chart;
use crate::cli::LintArgs;
use crate::lint::{Finding, Level, lint};
use crate::settings::Settings;
use crate::{Error, ExitStatus, values};
use serde_json::Value;

pub async fn exec(args: LintArgs, settings: &Settings) -> Result<ExitStatus, Error> {
    let limits = &settings.input_limits;
    let mut user = Value::Object(Default::default());
    for path in &args.value_files {
        values::overlay(
            &mut user,
            &crate::job::inputs::read_values_file(path, limits)?,
        );
    }
    let findings = match Chart::load(&args.chart, limits) {
        Ok(chart) => lint(&chart, &user),
        Err(err) => vec![Finding {
            level: Level::Error,
            message: err.to_string(),
        }],
    };
    println!("==> Linting {}", args.chart.display());
    for finding in &findings {
        let level = match finding.level {
            Level::Error => "[ERROR]",
            Level::Warning => "[WARNING]",
        };
        println!("{level} {}", finding.message);
    }
    let errors = findings.iter().filter(|f| f.level == Level::Error).count();
    println!(
        "\n1 chart(s) linted, {} chart(s) failed; {errors} error(s), {} warning(s)",
        usize::from(errors > 0),
        findings.len() - errors
    );
    Ok(if errors > 0 {
        // `helm lint`'s exit code for a failed lint.
        ExitStatus::ScoringFailed
    } else {
        ExitStatus::Success
    })
}
