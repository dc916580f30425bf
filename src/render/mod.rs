//! Rendering (docs/design-choices.md, Templates): every enabled chart's templates through one strict Handlebars registry.
//! A template sees `Values` (its chart's coalesced values, as in Helm), `Job` (the job's merged
//! values: `pipeline`, `scoringServices`, `scoringFlows`, `global`), `Release`, `Chart` and
//! `Template`.

pub mod go_template;
pub mod helpers;
pub mod marks;
pub mod tpl;

use crate::chart::{self, Chart, TemplateFile};
use handlebars::{Context, Handlebars};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;

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
    #[error(transparent)]
    Schema(#[from] chart::schema::SchemaError),
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

/// Whole YAML documents of one template's output, cut at a `---` line: rendering hands its
/// output on in pieces, so parsing runs while rendering goes on and no template's whole output
/// (megabytes for a thousand flows) is held at once.
#[derive(Debug, Clone)]
pub struct Piece {
    pub template: Arc<str>,
    pub text: String,
    /// Lines of the template's output before this piece.
    pub line_offset: usize,
    /// Documents of the template's output before this piece.
    pub document_offset: usize,
}

/// A template's output is handed on once this much is buffered (and a document ends).
const PIECE_BYTES: usize = 64 * 1024;

/// By default one template may write at most this much (`--max-render-bytes`; the chart writes
/// about 2.6 KiB per batch flow, so this is some 50,000 flows): a loop or helper gone wild fails
/// with the template's name instead of eating memory.
pub const DEFAULT_MAX_TEMPLATE_OUTPUT_BYTES: u64 = 256 * 1024 * 1024;

/// Where a named partial's text sits, to point errors at the `_*.tpl` file and line.
struct PartialOrigin {
    file: String,
    first_line: usize,
}

/// Renders every template into memory (tests, small charts), without the interpolation marks
/// (so unchecked); see [`render_pieces`].
pub fn render(chart: &Chart, job: &Value, release: &Release) -> Result<Vec<Rendered>, RenderError> {
    let mut out: Vec<Rendered> = Vec::new();
    render_pieces(
        chart,
        &mut job.clone(),
        release,
        DEFAULT_MAX_TEMPLATE_OUTPUT_BYTES,
        &mut |piece| {
            let text = marks::strip(&piece.text).into_owned();
            match out.last_mut() {
                Some(last) if piece.line_offset > 0 => last.text.push_str(&text),
                _ => out.push(Rendered {
                    template: piece.template.to_string(),
                    text,
                }),
            }
        },
    )?;
    Ok(out)
}

/// Renders every enabled chart's templates, in chart order, handing each template's output to
/// `sink` in [`Piece`]s as it is produced; a template that writes more than `max_output_bytes`
/// fails. The job's values are moved into the templates' context for the time of rendering and
/// put back: for a large job they are megabytes.
pub fn render_pieces(
    chart: &Chart,
    job: &mut Value,
    release: &Release,
    max_output_bytes: u64,
    sink: &mut dyn FnMut(Piece),
) -> Result<(), RenderError> {
    let mut scoped = chart::coalesce(chart, job);
    chart::schema::check(&scoped)?;
    // A chart without templates (the umbrella) only passes values down; its copy of the whole
    // job is not needed any more.
    for scope in scoped.iter_mut().filter(|s| s.chart.templates.is_empty()) {
        scope.values = Value::Null;
    }
    check_for_marks(&scoped, &*job)?;
    let mut registry = helper_registry();

    let mut partial_origins = BTreeMap::new();
    for scope in &scoped {
        for file in scope.chart.partials.iter().chain(&scope.chart.templates) {
            refuse_go_syntax(file)?;
        }
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

    // One context for every template; only the chart-specific parts change between templates.
    let mut context = Context::from(json!({
        "Values": null,
        "Job": null,
        "Release": {"Name": release.name, "Namespace": release.namespace, "Service": "modelops-executor"},
        "Chart": null,
        "Template": null,
    }));
    context.data_mut()["Job"] = std::mem::take(job);
    let rendered = render_scopes(
        scoped,
        &registry,
        &mut context,
        &partial_origins,
        max_output_bytes,
        sink,
    );
    *job = std::mem::take(&mut context.data_mut()["Job"]);
    rendered
}

fn render_scopes(
    scoped: Vec<chart::Scoped<'_>>,
    registry: &Handlebars<'_>,
    context: &mut Context,
    partial_origins: &BTreeMap<String, PartialOrigin>,
    max_output_bytes: u64,
    sink: &mut dyn FnMut(Piece),
) -> Result<(), RenderError> {
    for scope in scoped {
        let chart_meta = &scope.chart.meta;
        let data = context.data_mut();
        data["Values"] = scope.values;
        data["Chart"] = json!({"Name": chart_meta.name, "Version": chart_meta.version, "AppVersion": chart_meta.app_version, "Description": chart_meta.description});
        for file in &scope.chart.templates {
            context.data_mut()["Template"] =
                json!({"Name": file.name, "BasePath": format!("{}/templates", scope.chart.path)});
            let mut output = PieceWriter {
                template: Arc::from(file.name.as_str()),
                buffer: Vec::with_capacity(PIECE_BYTES + 4096),
                line_offset: 0,
                document_offset: 0,
                searched_from: 0,
                written: 0,
                limit: max_output_bytes,
                sink: &mut *sink,
            };
            registry
                .render_with_context_to_write(&file.name, context, &mut output)
                .map_err(|e| template_error(&e, partial_origins))?;
            output.ship(output.buffer.len())?;
        }
    }
    Ok(())
}

/// The interpolation marks are reserved: no value and no template may hold them (and no
/// template may use `{{{ }}}`, which writes a value without marks).
fn check_for_marks(scoped: &[chart::Scoped<'_>], job: &Value) -> Result<(), RenderError> {
    let reserved = |path: String| RenderError::File {
        file: "values".into(),
        message: format!(
            "`{path}` holds a Unicode noncharacter (U+FDD0..U+FDD2); these are reserved for rendering"
        ),
    };
    if let Some(path) = marks::find_in_value(job) {
        return Err(reserved(path));
    }
    for scope in scoped {
        if let Some(path) = marks::find_in_value(&scope.values) {
            return Err(reserved(path));
        }
        for file in scope.chart.templates.iter().chain(&scope.chart.partials) {
            if let Some((line, message)) = marks::find_in_text(&file.source) {
                return Err(RenderError::Template {
                    file: file.name.clone(),
                    line,
                    column: 1,
                    message: message.to_string(),
                });
            }
        }
    }
    Ok(())
}

/// Collects a template's output and hands on the complete documents in it.
struct PieceWriter<'s> {
    template: Arc<str>,
    buffer: Vec<u8>,
    line_offset: usize,
    document_offset: usize,
    /// No separator line starts in `buffer` before this (so a huge document is scanned once).
    searched_from: usize,
    /// Bytes the template has written so far, and how many it may.
    written: u64,
    limit: u64,
    sink: &'s mut dyn FnMut(Piece),
}

impl PieceWriter<'_> {
    /// Hands on `buffer[..end]`.
    fn ship(&mut self, end: usize) -> Result<(), RenderError> {
        let rest = self.buffer.split_off(end);
        let bytes = std::mem::replace(&mut self.buffer, rest);
        let text = String::from_utf8(bytes).map_err(|_| RenderError::File {
            file: self.template.to_string(),
            message: "the rendered output is not UTF-8".into(),
        })?;
        let (lines, documents) = (
            text.matches('\n').count(),
            crate::yaml::document_count(&text),
        );
        (self.sink)(Piece {
            template: self.template.clone(),
            text,
            line_offset: self.line_offset,
            document_offset: self.document_offset,
        });
        self.line_offset += lines;
        self.document_offset += documents;
        self.searched_from = 0;
        Ok(())
    }
}

impl std::io::Write for PieceWriter<'_> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.written += bytes.len() as u64;
        if self.written > self.limit {
            return Err(std::io::Error::other(format!(
                "the template writes more than {} bytes (--max-render-bytes)",
                self.limit
            )));
        }
        self.buffer.extend_from_slice(bytes);
        if self.buffer.len() >= PIECE_BYTES {
            match last_separator_line(&self.buffer, self.searched_from) {
                Some(cut) => self.ship(cut).map_err(std::io::Error::other)?,
                // The last line may still grow into a separator: look at it again next time.
                None => {
                    self.searched_from = self
                        .buffer
                        .iter()
                        .rposition(|&b| b == b'\n')
                        .unwrap_or(self.searched_from)
                }
            }
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The start of the last complete `---` line that starts after `from` (and is not the first
/// line), if any.
fn last_separator_line(buffer: &[u8], from: usize) -> Option<usize> {
    let mut end = buffer.len();
    while let Some(newline) = buffer[from..end].iter().rposition(|&b| b == b'\n') {
        let start = from + newline + 1;
        if buffer[start..].starts_with(b"---")
            && let Some(length) = buffer[start..].iter().position(|&b| b == b'\n')
            && std::str::from_utf8(&buffer[start..start + length])
                .is_ok_and(crate::yaml::is_separator)
        {
            return Some(start);
        }
        end = from + newline;
    }
    None
}

/// A strict registry with every helper and no template yet.
pub fn helper_registry() -> Handlebars<'static> {
    let mut registry = Handlebars::new();
    registry.set_strict_mode(true);
    // Every value a template writes is marked, so that parsing the output can prove it did
    // not change the YAML's structure (marks.rs).
    registry.register_escape_fn(marks::escape);
    helpers::register(&mut registry);
    registry
}

/// Whether `name` is a registered helper: an unknown name alone in strict mode is a missing
/// value, a helper is called (and may complain about its arguments).
pub fn is_helper(registry: &Handlebars<'_>, name: &str) -> bool {
    !matches!(
        registry.render_template(&format!("{{{{{name}}}}}"), &json!({})),
        Err(err) if matches!(err.reason(), handlebars::RenderErrorReason::MissingVariable(_))
    )
}

/// A template in Go syntax (written for Helm's engine) is named as such, not as a parse error.
fn refuse_go_syntax(file: &TemplateFile) -> Result<(), RenderError> {
    match go_template::find(&file.source) {
        Some((line, column, what)) => Err(RenderError::Template {
            file: file.name.clone(),
            line,
            column,
            message: go_template::message(what),
        }),
        None => Ok(()),
    }
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
    use crate::archive::Files;

    fn chart(entries: &[(&str, &str)]) -> Chart {
        let mut all = vec![("Chart.yaml", "apiVersion: v2\nname: t\nversion: 1.0.0\n")];
        all.extend_from_slice(entries);
        let files = Files::from_texts("t", &all);
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
    fn large_output_comes_in_pieces_of_whole_documents() {
        let chart = chart(&[(
            "templates/cm.yaml",
            "# Source: cm\n{{#each Job.items}}\n---\nkind: ConfigMap\nmetadata:\n  name: cm-{{this}}\n{{/each}}\n",
        )]);
        let job = json!({"items": (0..5000).collect::<Vec<_>>()});
        let mut pieces = Vec::new();
        render_pieces(
            &chart,
            &mut job.clone(),
            &release(),
            DEFAULT_MAX_TEMPLATE_OUTPUT_BYTES,
            &mut |piece| pieces.push(piece),
        )
        .unwrap();
        assert!(pieces.len() > 3, "{} pieces", pieces.len());
        let whole: String = pieces.iter().map(|p| p.text.as_str()).collect();
        let whole = marks::strip(&whole).into_owned();
        let (mut lines, mut documents) = (0, 0);
        for piece in &pieces {
            assert_eq!(
                (piece.line_offset, piece.document_offset),
                (lines, documents)
            );
            if lines > 0 {
                assert!(piece.text.starts_with("---\n"), "{:?}", &piece.text[..20]);
            }
            lines += piece.text.matches('\n').count();
            documents += crate::yaml::document_count(&piece.text);
        }
        assert_eq!(documents, crate::yaml::document_count(&whole));
        assert_eq!(render(&chart, &job, &release()).unwrap()[0].text, whole);
    }

    #[test]
    fn a_template_writing_more_than_the_limit_fails_naming_it() {
        let chart = chart(&[(
            "templates/cm.yaml",
            "{{#each Job.items}}\n---\nkind: ConfigMap\nmetadata:\n  name: cm-{{this}}\n{{/each}}\n",
        )]);
        let mut job = json!({"items": (0..5000).collect::<Vec<_>>()});
        let render_with = |limit: u64, job: &mut Value| {
            render_pieces(&chart, job, &release(), limit, &mut |_| {}).map_err(|e| e.to_string())
        };
        // 5,000 documents of about 45 bytes.
        let err = render_with(100_000, &mut job).unwrap_err();
        assert!(
            err.contains("templates/cm.yaml")
                && err.contains("more than 100000 bytes (--max-render-bytes)"),
            "{err}"
        );
        assert!(render_with(1_000_000, &mut job).is_ok());
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
