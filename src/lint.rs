//! Chart linting for `lint CHART [-f values.yaml]…`, like `helm lint`: what would stop or mislead a render, found
//! without a cluster and without an IR. Errors exit 1 (as `helm lint` does), warnings do not.
//!
//! "Default values": the chart's own `values.yaml` files, coalesced as for a render, with the
//! `-f` files given as the user values. They are also what templates see as `Job`; a chart that
//! renders a job (charts/modelops) needs a job's values for its templates to produce objects,
//! e.g. the output of `preprocess` as `-f` (docs/design-choices.md).

use crate::chart::{self, Chart, TemplateFile};
use crate::manifest::{self, Owner};
use crate::render::{self, Release, go_template};
use handlebars::template::{Parameter, TemplateElement};
use serde_json::Value;
use std::collections::BTreeSet;

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Error,
    Warning,
}

/// One problem lint found.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Finding {
    pub level: Level,
    pub message: String,
}

/// Values keys no template needs to read: the executor or Helm's machinery reads them.
const READ_BY_MACHINERY: [&str; 5] = ["global", "enabled", "build", "exports", "tags"];

/// Every finding for a loaded chart and the user values, errors first.
pub fn lint(chart: &Chart, user: &Value) -> Vec<Finding> {
    let mut findings = Vec::new();
    let registry = render::helper_registry();
    for each in chart.walk() {
        check_meta(each, &mut findings);
        for file in each.templates.iter().chain(&each.partials) {
            check_template(file, &registry, &mut findings);
        }
    }
    check_unread_values(chart, &mut findings);
    if !findings.iter().any(|f| f.level == Level::Error) {
        check_render(chart, user, &mut findings);
    }
    findings.sort();
    findings.dedup();
    findings
}

fn error(findings: &mut Vec<Finding>, message: String) {
    findings.push(Finding {
        level: Level::Error,
        message,
    });
}

fn warning(findings: &mut Vec<Finding>, message: String) {
    findings.push(Finding {
        level: Level::Warning,
        message,
    });
}

/// Chart.yaml beyond what loading checks: a SemVer version, a known type, a description.
fn check_meta(chart: &Chart, findings: &mut Vec<Finding>) {
    let file = format!("{}/Chart.yaml", chart.path);
    if !is_semver(&chart.meta.version) {
        error(
            findings,
            format!(
                "{file}: version `{}` is not SemVer 2 (MAJOR.MINOR.PATCH)",
                chart.meta.version
            ),
        );
    }
    if let Some(kind) = &chart.meta.chart_type
        && kind != "application"
        && kind != "library"
    {
        error(
            findings,
            format!("{file}: type `{kind}` must be `application` or `library`"),
        );
    }
    if chart.meta.description.as_deref().is_none_or(str::is_empty) {
        warning(findings, format!("{file}: a description is recommended"));
    }
    for dependency in &chart.meta.dependencies {
        if dependency.version.is_none() {
            warning(
                findings,
                format!("{file}: dependency `{}` has no version", dependency.name),
            );
        }
    }
}

/// `MAJOR.MINOR.PATCH`, optionally `-pre.release` and `+build`, without leading zeros.
fn is_semver(version: &str) -> bool {
    let (core, _build) = version.split_once('+').unwrap_or((version, ""));
    let (core, _pre) = core.split_once('-').unwrap_or((core, ""));
    let parts: Vec<&str> = core.split('.').collect();
    parts.len() == 3
        && parts.iter().all(|part| {
            !part.is_empty()
                && part.bytes().all(|b| b.is_ascii_digit())
                && (part.len() == 1 || !part.starts_with('0'))
        })
}

/// Go syntax, Handlebars syntax errors and helpers nobody registered.
fn check_template(
    file: &TemplateFile,
    registry: &handlebars::Handlebars<'_>,
    findings: &mut Vec<Finding>,
) {
    if let Some((line, column, what)) = go_template::find(&file.source) {
        error(
            findings,
            format!(
                "{}:{line}:{column}: {}",
                file.name,
                go_template::message(what)
            ),
        );
        return;
    }
    let template = match handlebars::Template::compile(&file.source) {
        Ok(template) => template,
        Err(err) => {
            let (line, column) = err.pos().unwrap_or((0, 0));
            error(
                findings,
                format!("{}:{line}:{column}: {}", file.name, err.reason()),
            );
            return;
        }
    };
    let mut called = BTreeSet::new();
    helpers_called(&template.elements, &mut called);
    for name in called {
        if !render::is_helper(registry, &name) {
            let hint = crate::diagnostics::suggestion(&name, render::helpers::names());
            error(
                findings,
                format!(
                    "{}: unknown helper `{name}`{hint} (charts/README.md lists the helpers)",
                    file.name
                ),
            );
        }
    }
}

/// The names of every helper a template calls: blocks, calls with arguments, subexpressions.
fn helpers_called(elements: &[TemplateElement], out: &mut BTreeSet<String>) {
    for element in elements {
        match element {
            TemplateElement::Expression(helper)
            | TemplateElement::HtmlExpression(helper)
            | TemplateElement::HelperBlock(helper) => {
                if let Parameter::Name(name) = &helper.name
                    && (helper.block || !helper.params.is_empty() || !helper.hash.is_empty())
                {
                    out.insert(name.clone());
                }
                for param in helper.params.iter().chain(helper.hash.values()) {
                    parameter_helpers(param, out);
                }
                for inner in helper.template.iter().chain(&helper.inverse) {
                    helpers_called(&inner.elements, out);
                }
            }
            TemplateElement::DecoratorBlock(decorator)
            | TemplateElement::PartialBlock(decorator) => {
                if let Some(inner) = &decorator.template {
                    helpers_called(&inner.elements, out);
                }
            }
            _ => {}
        }
    }
}

fn parameter_helpers(param: &Parameter, out: &mut BTreeSet<String>) {
    if let Parameter::Subexpression(sub) = param {
        helpers_called(std::slice::from_ref(sub.as_element()), out);
        // `(name)` without arguments is a helper call too.
        if let TemplateElement::Expression(helper) = sub.as_element()
            && let Parameter::Name(name) = &helper.name
        {
            out.insert(name.clone());
        }
    }
}

/// Top-level keys of a chart's values.yaml that no template reads (by `Values.<key>`); partials
/// count for every chart, since sub-charts render the umbrella's partials.
fn check_unread_values(chart: &Chart, findings: &mut Vec<Finding>) {
    let charts = chart.walk();
    let partials: Vec<&str> = charts
        .iter()
        .flat_map(|c| c.partials.iter().map(|p| p.source.as_str()))
        .collect();
    for each in charts {
        let Some(defaults) = each.defaults.as_object() else {
            continue;
        };
        let sources: Vec<&str> = each
            .templates
            .iter()
            .map(|t| t.source.as_str())
            .chain(partials.iter().copied())
            .collect();
        // A template that hands `Values` on whole may read anything.
        if sources.iter().any(|s| reads_whole_values(s)) {
            continue;
        }
        let subcharts: BTreeSet<&str> = each
            .meta
            .dependencies
            .iter()
            .map(chart::Dependency::key)
            .collect();
        for key in defaults.keys() {
            if READ_BY_MACHINERY.contains(&key.as_str()) || subcharts.contains(key.as_str()) {
                continue;
            }
            if !sources.iter().any(|s| reads_key(s, key)) {
                warning(
                    findings,
                    format!(
                        "{}/values.yaml: `{key}` is never read by a template",
                        each.path
                    ),
                );
            }
        }
    }
}

fn reads_key(source: &str, key: &str) -> bool {
    [format!("Values.{key}"), format!("Values.[{key}]")]
        .iter()
        .any(|needle| {
            source.match_indices(needle.as_str()).any(|(at, _)| {
                !source[at + needle.len()..]
                    .starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            })
        })
}

fn reads_whole_values(source: &str) -> bool {
    source.match_indices("Values").any(|(at, _)| {
        let before = source[..at].chars().next_back();
        let after = source[at + "Values".len()..].chars().next();
        matches!(before, Some(' ' | '(' | '{' | '/')) && matches!(after, Some(' ' | ')' | '}'))
    })
}

/// Renders every enabled chart (schema first) and checks each object: valid YAML, a valid name,
/// the component label, labels that do not contradict the ownership labels, no duplicates.
fn check_render(chart: &Chart, user: &Value, findings: &mut Vec<Finding>) {
    let release = Release {
        name: "lint".into(),
        namespace: "default".into(),
    };
    let owner = Owner {
        job_id: "lint".into(),
        pipeline: "lint".into(),
        namespace: "default".into(),
    };
    let labels = crate::k8s::ownership::labels(&owner.job_id, &owner.pipeline);
    let mut pieces = Vec::new();
    let mut job = user.clone();
    let rendered = render::render_pieces(
        chart,
        &mut job,
        &release,
        render::DEFAULT_MAX_TEMPLATE_OUTPUT_BYTES,
        &mut |piece| {
            pieces.push(manifest::build_piece(&piece, &owner, &labels, &|object| {
                object
            }))
        },
    );
    if let Err(err) = rendered {
        let mut message = err.to_string();
        if message.contains("`Job.") {
            message.push_str(
                " (templates that read `Job` need a job's values: pass them with -f, e.g. the output of `preprocess`)",
            );
        }
        error(findings, message);
        return;
    }
    match manifest::assemble(pieces) {
        Ok(objects) if objects.is_empty() => warning(
            findings,
            format!(
                "{}: the templates render no object with these values",
                chart.path
            ),
        ),
        Ok(_) => {}
        Err(manifest::ManifestError::Several { problems, .. }) => {
            for problem in problems {
                error(findings, problem);
            }
        }
        Err(err) => error(findings, err.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::archive::Files;
    use serde_json::json;

    fn chart(entries: &[(&str, &str)]) -> Chart {
        Chart::from_files(&Files::from_texts("t", entries), None).unwrap()
    }

    const META: &str = "apiVersion: v2\nname: t\nversion: 1.0.0\ndescription: test\n";
    const GOOD: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-{{Values.name}}\n  labels:\n    app.kubernetes.io/component: test\n";

    fn messages(findings: &[Finding], level: Level) -> Vec<String> {
        findings
            .iter()
            .filter(|f| f.level == level)
            .map(|f| f.message.clone())
            .collect()
    }

    #[test]
    fn a_clean_chart_has_no_findings() {
        let chart = chart(&[
            ("Chart.yaml", META),
            ("values.yaml", "name: a\n"),
            ("templates/cm.yaml", GOOD),
        ]);
        assert_eq!(lint(&chart, &json!({})), vec![]);
    }

    /// The suggestions come from the registration table itself: every helper a template can call
    /// is known to lint, and a one-letter slip of its name is answered with it.
    #[test]
    fn every_registered_helper_is_known_and_suggested() {
        let registry = render::helper_registry();
        let mut checked = Vec::new();
        for name in render::helpers::names() {
            let check = |called: &str| {
                let mut findings = Vec::new();
                let file = TemplateFile {
                    name: "t/templates/x.yaml".into(),
                    // A call as a subexpression: `{{if x}}` alone reads as Go's `{{ if }}`.
                    source: format!("x: {{{{quote ({called} Values.a)}}}}\n"),
                };
                check_template(&file, &registry, &mut findings);
                messages(&findings, Level::Error)
            };
            assert_eq!(
                check(name),
                Vec::<String>::new(),
                "`{name}` is not registered"
            );
            // A doubled last or first letter; one of them is closer to `name` than to any other
            // helper (`andd` is as close to `add` as to `and`).
            let slips = [
                format!("{name}{}", name.chars().last().unwrap()),
                format!("{}{name}", name.chars().next().unwrap()),
            ];
            let expected = format!("(did you mean `{name}`?)");
            let answers: Vec<Vec<String>> = slips.iter().map(|slip| check(slip)).collect();
            assert!(
                answers
                    .iter()
                    .any(|errors| errors.iter().any(|e| e.contains(&expected))),
                "no slip of `{name}` is answered with it: {answers:?}"
            );
            checked.push(name);
        }
        // The table's own helpers, the ones other modules define and Handlebars' built-ins.
        for expected in ["toYaml", "include", "tpl", "lookup", "if", "each", "gt"] {
            assert!(
                checked.contains(&expected),
                "{expected} missing: {checked:?}"
            );
        }
    }

    #[test]
    fn finds_meta_template_and_unread_value_problems() {
        let chart = chart(&[
            (
                "Chart.yaml",
                "apiVersion: v2\nname: t\nversion: \"1.0\"\ntype: app\n",
            ),
            ("values.yaml", "name: a\nunused: 1\n"),
            ("templates/cm.yaml", GOOD),
            ("templates/go.yaml", "x: {{ .Values.name }}\n"),
            (
                "templates/helpers.yaml",
                "x: {{toYml Values.name}} {{#iff Values.name}}{{/iff}} {{quote (nope Values.name)}}\n",
            ),
        ]);
        let findings = lint(&chart, &json!({}));
        let errors = messages(&findings, Level::Error);
        for expected in [
            "t/Chart.yaml: version `1.0` is not SemVer 2",
            "t/Chart.yaml: type `app` must be",
            "t/templates/go.yaml:1:4: this looks like a Go template",
            "t/templates/helpers.yaml: unknown helper `toYml` (did you mean `toYaml`?)",
            "t/templates/helpers.yaml: unknown helper `iff`",
            "t/templates/helpers.yaml: unknown helper `nope`",
        ] {
            assert!(
                errors.iter().any(|e| e.starts_with(expected)),
                "lacks `{expected}`: {errors:#?}"
            );
        }
        let warnings = messages(&findings, Level::Warning);
        assert!(
            warnings.contains(&"t/Chart.yaml: a description is recommended".to_string()),
            "{warnings:?}"
        );
        assert!(
            warnings.contains(&"t/values.yaml: `unused` is never read by a template".to_string()),
            "{warnings:?}"
        );
        assert!(
            !warnings.iter().any(|w| w.contains("`name`")),
            "{warnings:?}"
        );
    }

    #[test]
    fn renders_with_the_values_and_checks_every_object() {
        let chart = chart(&[
            ("Chart.yaml", META),
            ("values.yaml", "name: a\n"),
            (
                "values.schema.json",
                r#"{"properties": {"name": {"type": "string", "pattern": "^[a-z]+$"}}}"#,
            ),
            ("templates/cm.yaml", GOOD),
            (
                "templates/bad.yaml",
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: Bad_Name\n  labels: {app.kubernetes.io/component: x}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: nolabel-{{Values.name}}\n",
            ),
        ]);
        let errors = messages(&lint(&chart, &json!({})), Level::Error);
        assert!(
            errors
                .iter()
                .any(|e| e.contains("t/templates/bad.yaml, document") && e.contains("Bad_Name")),
            "{errors:#?}"
        );
        assert!(
            errors
                .iter()
                .any(|e| e.contains("t/templates/bad.yaml, document")
                    && e.contains("app.kubernetes.io/component")),
            "{errors:#?}"
        );
        // -f values go through the schema.
        let errors = messages(&lint(&chart, &json!({"name": "UPPER"})), Level::Error);
        assert!(
            errors
                .iter()
                .any(|e| e.contains("`name`") && e.contains("(rule: pattern)")),
            "{errors:#?}"
        );
    }

    #[test]
    fn semver() {
        for good in ["1.0.0", "0.1.0-rc.1", "10.20.30+build.5"] {
            assert!(is_semver(good), "{good}");
        }
        for bad in ["1.0", "v1.0.0", "01.0.0", "1.0.x", ""] {
            assert!(!is_semver(bad), "{bad}");
        }
    }
}
