//! Rendering (DESIGN §5): every enabled chart's templates through one strict Handlebars registry.
//! A template sees `Values` (its chart's coalesced values, as in Helm), `Job` (the job's merged
//! values: `pipeline`, `scoringServices`, `scoringFlows`, `global`), `Release`, `Chart` and
//! `Template`.

pub mod helpers;

use crate::chart::{self, Chart, TemplateFile};
use handlebars::Handlebars;
use serde_json::{Value, json};
use std::collections::BTreeMap;

#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("{file}:{line}:{column}: {message}")]
    Template {
        file: String,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{file}: {message}")]
    File { file: String, message: String },
}

#[derive(Debug, Clone)]
pub struct Release {
    pub name: String,
    pub namespace: String,
}

/// One template's output, in chart order.
#[derive(Debug, Clone)]
pub struct Rendered {
    pub template: String,
    pub text: String,
}

/// Where a named partial's text sits, to point errors at the `_*.tpl` file and line.
struct PartialOrigin {
    file: String,
    first_line: usize,
}

pub fn render(chart: &Chart, job: &Value, release: &Release) -> Result<Vec<Rendered>, RenderError> {
    let scoped = chart::coalesce(chart, job);
    let mut registry = Handlebars::new();
    registry.set_strict_mode(true);
    registry.register_escape_fn(handlebars::no_escape);
    helpers::register(&mut registry);

    let mut partial_origins = BTreeMap::new();
    for scope in &scoped {
        for file in &scope.chart.partials {
            for partial in split_partials(file)? {
                if let Some(previous) = partial_origins.get(&partial.name) {
                    let previous: &PartialOrigin = previous;
                    return Err(RenderError::File {
                        file: file.name.clone(),
                        message: format!(
                            "partial `{}` is already defined in {}",
                            partial.name, previous.file
                        ),
                    });
                }
                registry
                    .register_template_string(&partial.name, &partial.body)
                    .map_err(|e| syntax_error(&e, &file.name, partial.first_line))?;
                partial_origins.insert(
                    partial.name.clone(),
                    PartialOrigin {
                        file: file.name.clone(),
                        first_line: partial.first_line,
                    },
                );
            }
        }
    }
    for scope in &scoped {
        for file in &scope.chart.templates {
            registry
                .register_template_string(&file.name, &file.source)
                .map_err(|e| syntax_error(&e, &file.name, 1))?;
        }
    }

    let mut out = Vec::new();
    for scope in &scoped {
        let chart_meta = &scope.chart.meta;
        for file in &scope.chart.templates {
            let context = json!({
                "Values": scope.values,
                "Job": job,
                "Release": {"Name": release.name, "Namespace": release.namespace, "Service": "modelops-executor"},
                "Chart": {"Name": chart_meta.name, "Version": chart_meta.version, "AppVersion": chart_meta.app_version, "Description": chart_meta.description},
                "Template": {"Name": file.name, "BasePath": format!("{}/templates", scope.chart.path)},
            });
            let text = registry
                .render(&file.name, &context)
                .map_err(|e| template_error(&e, &partial_origins))?;
            out.push(Rendered {
                template: file.name.clone(),
                text,
            });
        }
    }
    Ok(out)
}

fn syntax_error(err: &handlebars::TemplateError, file: &str, first_line: usize) -> RenderError {
    let (line, column) = err.pos().unwrap_or((1, 0));
    RenderError::Template {
        file: file.to_string(),
        line: first_line + line - 1,
        column,
        message: err.reason().to_string(),
    }
}

fn template_error(
    err: &handlebars::RenderError,
    partials: &BTreeMap<String, PartialOrigin>,
) -> RenderError {
    let template = err.template_name.clone().unwrap_or_else(|| "?".to_string());
    let message = describe(err);
    match partials.get(&template) {
        Some(origin) => RenderError::Template {
            file: origin.file.clone(),
            line: origin.first_line + err.line_no.unwrap_or(1) - 1,
            column: err.column_no.unwrap_or(0),
            message: format!("in partial `{template}`: {message}"),
        },
        None => RenderError::Template {
            file: template,
            line: err.line_no.unwrap_or(0),
            column: err.column_no.unwrap_or(0),
            message,
        },
    }
}

fn describe(err: &handlebars::RenderError) -> String {
    use handlebars::RenderErrorReason as R;
    match err.reason() {
        R::MissingVariable(Some(path)) => format!(
            "`{path}` is not defined in the values (use `default` or `#if` for optional values)"
        ),
        R::MissingVariable(None) => "a value used here is not defined".to_string(),
        R::TemplateError(template) => template.reason().to_string(),
        other => other.to_string(),
    }
}

struct Partial {
    name: String,
    body: String,
    first_line: usize,
}

/// A `_*.tpl` file holds named partials, each as Handlebars' `{{#*inline "name"}}…{{/inline}}`;
/// anything else in it must be blank or a comment, since Helm never renders these files.
fn split_partials(file: &TemplateFile) -> Result<Vec<Partial>, RenderError> {
    const OPEN: &str = "{{#*inline \"";
    const CLOSE: &str = "{{/inline}}";
    let source = &file.source;
    let mut partials = Vec::new();
    let mut rest = 0;
    while let Some(start) = source[rest..].find(OPEN).map(|i| i + rest) {
        check_outside(file, &source[rest..start])?;
        let name_start = start + OPEN.len();
        let line =
            source[..start].lines().count().max(1) + usize::from(source[..start].ends_with('\n'));
        let name_end = source[name_start..]
            .find('"')
            .map(|i| i + name_start)
            .ok_or_else(|| RenderError::Template {
                file: file.name.clone(),
                line,
                column: 1,
                message: "unterminated partial name".into(),
            })?;
        let open_end = source[name_end..]
            .find("}}")
            .map(|i| i + name_end + 2)
            .ok_or_else(|| RenderError::Template {
                file: file.name.clone(),
                line,
                column: 1,
                message: "unterminated {{#*inline}}".into(),
            })?;
        let close = source[open_end..]
            .find(CLOSE)
            .map(|i| i + open_end)
            .ok_or_else(|| RenderError::Template {
                file: file.name.clone(),
                line,
                column: 1,
                message: format!(
                    "partial `{}` has no {{{{/inline}}}}",
                    &source[name_start..name_end]
                ),
            })?;
        // Like a standalone tag, the newline right after the opening tag is not part of the body.
        let body_start = if source[open_end..].starts_with('\n') {
            open_end + 1
        } else {
            open_end
        };
        let first_line = source[..body_start].matches('\n').count() + 1;
        let body = source[body_start..close]
            .trim_end_matches([' ', '\t'])
            .trim_end_matches('\n');
        partials.push(Partial {
            name: source[name_start..name_end].to_string(),
            body: body.to_string(),
            first_line,
        });
        rest = close + CLOSE.len();
    }
    check_outside(file, &source[rest..])?;
    Ok(partials)
}

fn check_outside(file: &TemplateFile, text: &str) -> Result<(), RenderError> {
    let mut remaining = text.trim();
    while let Some(comment) = remaining.strip_prefix("{{!") {
        let end = if comment.starts_with("--") {
            comment.find("--}}").map(|i| i + 4)
        } else {
            comment.find("}}").map(|i| i + 2)
        };
        match end {
            Some(end) => remaining = comment[end..].trim(),
            None => break,
        }
    }
    if remaining.is_empty() || remaining.starts_with('#') {
        Ok(())
    } else {
        Err(RenderError::File {
            file: file.name.clone(),
            message: "text outside {{#*inline \"name\"}}…{{/inline}} blocks; a _*.tpl file holds only named partials and comments".into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::archive::{File, Files};

    fn chart(entries: &[(&str, &str)]) -> Chart {
        let mut all = vec![("Chart.yaml", "apiVersion: v2\nname: t\nversion: 1.0.0\n")];
        all.extend_from_slice(entries);
        let files = Files {
            origin: "t".into(),
            files: all
                .iter()
                .map(|(p, s)| File {
                    path: p.to_string(),
                    bytes: s.as_bytes().to_vec(),
                })
                .collect(),
        };
        Chart::from_files(&files, None).unwrap()
    }

    fn release() -> Release {
        Release {
            name: "r".into(),
            namespace: "ns".into(),
        }
    }

    #[test]
    fn renders_values_job_and_partials() {
        let chart = chart(&[
            ("values.yaml", "image: scorer:1\n"),
            (
                "templates/_helpers.tpl",
                "{{!-- shared --}}\n{{#*inline \"t.labels\"}}\napp: {{name}}\n{{/inline}}\n",
            ),
            (
                "templates/cm.yaml",
                "image: {{Values.image}}\nns: {{Release.Namespace}}\nlabels:{{nindent 2 (include \"t.labels\" (dict \"name\" Job.pipeline.name))}}\n",
            ),
        ]);
        let out = render(&chart, &json!({"pipeline": {"name": "p"}}), &release()).unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].template, "t/templates/cm.yaml");
        assert_eq!(out[0].text, "image: scorer:1\nns: ns\nlabels:\n  app: p\n");
    }

    #[test]
    fn missing_values_name_file_and_line() {
        let chart = chart(&[("templates/cm.yaml", "a: 1\nb: {{Values.nope}}\n")]);
        let err = render(&chart, &json!({}), &release())
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("t/templates/cm.yaml:2:"), "{err}");
        assert!(err.contains("`Values.nope` is not defined"), "{err}");
    }

    #[test]
    fn errors_in_partials_point_into_the_tpl_file() {
        let chart = chart(&[
            (
                "templates/_h.tpl",
                "\n\n{{#*inline \"bad\"}}\nok\n{{Values.nope}}\n{{/inline}}\n",
            ),
            ("templates/cm.yaml", "x: {{include \"bad\" this}}\n"),
        ]);
        let err = render(&chart, &json!({}), &release())
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("t/templates/_h.tpl:5:"), "{err}");
        assert!(err.contains("in partial `bad`"), "{err}");
    }

    #[test]
    fn syntax_errors_name_the_template() {
        let chart = chart(&[("templates/cm.yaml", "a: {{#if x}}\n")]);
        let err = render(&chart, &json!({}), &release())
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("t/templates/cm.yaml:"), "{err}");
    }

    #[test]
    fn stray_text_in_tpl_is_rejected() {
        let chart = chart(&[("templates/_h.tpl", "kind: ConfigMap\n")]);
        let err = render(&chart, &json!({}), &release())
            .unwrap_err()
            .to_string();
        assert!(err.contains("text outside"), "{err}");
    }
}
