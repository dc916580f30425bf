//! Helm's chart layout (docs/design-choices.md, Templates) with Handlebars templates: loading a chart directory or `.tgz`
//! with its sub-charts, and coalescing values the way Helm does.

pub mod imports;
pub mod package;
pub mod schema;

use crate::archive::{self, Files, Limits};
use crate::schema::type_name;
use crate::values;
use serde_json::{Map, Value};
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum ChartError {
    #[error(transparent)]
    Archive(#[from] archive::ArchiveError),
    #[error("{chart}: {file}: {reason}")]
    Invalid {
        chart: String,
        file: String,
        reason: String,
    },
    #[error(
        "{chart}: dependency `{dependency}` is declared in Chart.yaml but not present in charts/"
    )]
    MissingDependency { chart: String, dependency: String },
}

#[derive(Debug, Clone)]
pub struct Chart {
    pub meta: ChartMeta,
    /// Path used in template names and `# Source:` lines: `modelops/charts/scoring-flow`.
    pub path: String,
    pub defaults: Value,
    /// `values.schema.json`, compiled.
    pub schema: Option<schema::ValuesSchema>,
    pub templates: Vec<TemplateFile>,
    /// `templates/_*.tpl`: named partials only, never rendered on their own.
    pub partials: Vec<TemplateFile>,
    pub subcharts: Vec<Chart>,
}

#[derive(Debug, Clone)]
pub struct TemplateFile {
    /// `<chart path>/templates/<file>`, as Helm names templates.
    pub name: String,
    pub source: String,
}

#[derive(Debug, Clone, serde::Deserialize, serde::Serialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ChartMeta {
    pub api_version: String,
    pub name: String,
    pub version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_version: Option<String>,
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub chart_type: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dependencies: Vec<Dependency>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keywords: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub home: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maintainers: Option<Vec<Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<Map<String, Value>>,
}

#[derive(Debug, Clone, serde::Deserialize, serde::Serialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Dependency {
    pub name: String,
    #[serde(default)]
    pub version: Option<String>,
    #[serde(default)]
    pub repository: Option<String>,
    #[serde(default)]
    pub condition: Option<String>,
    #[serde(default)]
    pub alias: Option<String>,
    /// Helm's tags: without a deciding `condition`, the dependency is disabled when the root
    /// values' `tags` set one of these to false and none to true.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// Helm's `import-values`: the child's `exports.<name>` (a string) or `{child, parent}`
    /// paths, copied into the parent's values below the parent's own.
    #[serde(
        default,
        rename = "import-values",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub import_values: Vec<imports::Import>,
}

impl Dependency {
    /// The key of the parent's values that configures this sub-chart.
    pub fn key(&self) -> &str {
        self.alias.as_deref().unwrap_or(&self.name)
    }
}

impl Chart {
    /// Loads a chart directory or a packaged `.tgz`; the whole tree, packaged sub-charts
    /// unpacked, must fit in `limits`.
    pub fn load(path: &Path, limits: &Limits) -> Result<Chart, ChartError> {
        let files = if path.is_dir() {
            archive::read_dir(path, limits)?
        } else {
            let bytes = archive::read_regular_file(path, limits.max_total_bytes)?;
            archive::read_tar_gz(&path.display().to_string(), &bytes, limits)?
                .strip_single_top_dir()
        };
        Chart::from_files_limited(&files, None, limits)
    }

    /// Builds a chart from its files (paths relative to the chart root), within the default
    /// limits.
    pub fn from_files(files: &Files, parent_path: Option<&str>) -> Result<Chart, ChartError> {
        Chart::from_files_limited(files, parent_path, &Limits::default())
    }

    fn from_files_limited(
        files: &Files,
        parent_path: Option<&str>,
        limits: &Limits,
    ) -> Result<Chart, ChartError> {
        let already: u64 = files.files.iter().map(|f| f.bytes.len() as u64).sum();
        let mut budget = limits.max_total_bytes.saturating_sub(already);
        Chart::from_files_within(files, parent_path, limits, &mut budget)
    }

    /// [`Chart::from_files`], unpacking packaged sub-charts within one budget of decompressed
    /// bytes for the whole tree (a fresh budget per nested `.tgz` let a few MiB of nested
    /// archives inflate to gigabytes).
    fn from_files_within(
        files: &Files,
        parent_path: Option<&str>,
        limits: &Limits,
        budget: &mut u64,
    ) -> Result<Chart, ChartError> {
        let source = Source(files);
        let meta = source.meta()?;
        let path = match parent_path {
            None => meta.name.clone(),
            Some(parent) => parent.to_string(),
        };
        let defaults = source.defaults()?;
        let schema = source
            .text(schema::FILE)?
            .map(|text| schema::ValuesSchema::compile(&files.origin, &path, &text))
            .transpose()?;
        let (templates, partials) = source.templates(&path)?;
        let subcharts = source.subcharts(&path, limits, budget)?;
        for dependency in &meta.dependencies {
            if !subcharts.iter().any(|s| s.meta.name == dependency.name) {
                return Err(ChartError::MissingDependency {
                    chart: files.origin.clone(),
                    dependency: dependency.name.clone(),
                });
            }
        }
        Ok(Chart {
            meta,
            path,
            defaults,
            schema,
            templates,
            partials,
            subcharts,
        })
    }

    /// Every chart of the tree, parent first.
    pub fn walk(&self) -> Vec<&Chart> {
        let mut out = vec![self];
        for sub in &self.subcharts {
            out.extend(sub.walk());
        }
        out
    }
}

/// The files of one chart of a tree, read step by step into a [`Chart`].
struct Source<'f>(&'f Files);

impl Source<'_> {
    fn invalid(&self, file: &str, reason: String) -> ChartError {
        ChartError::Invalid {
            chart: self.0.origin.clone(),
            file: file.to_string(),
            reason,
        }
    }

    fn text(&self, file: &str) -> Result<Option<String>, ChartError> {
        match self.0.get(file) {
            None => Ok(None),
            Some(f) => String::from_utf8(f.bytes.clone())
                .map(Some)
                .map_err(|_| self.invalid(file, "is not valid UTF-8".into())),
        }
    }

    /// `Chart.yaml`: present, apiVersion v2, a valid name.
    fn meta(&self) -> Result<ChartMeta, ChartError> {
        let invalid = |reason: String| self.invalid("Chart.yaml", reason);
        let text = self
            .text("Chart.yaml")?
            .ok_or_else(|| invalid("is missing; is this a chart directory?".into()))?;
        let value = crate::yaml::parse_one(&text).map_err(|err| invalid(err.to_string()))?;
        let meta: ChartMeta =
            serde_json::from_value(value).map_err(|err| invalid(err.to_string()))?;
        if meta.api_version != "v2" {
            return Err(invalid(format!(
                "apiVersion `{}` is not supported; use v2",
                meta.api_version
            )));
        }
        if !crate::names::is_dns1123_label(&meta.name) {
            return Err(invalid(format!(
                "name `{}` is not a valid chart name",
                meta.name
            )));
        }
        Ok(meta)
    }

    /// `values.yaml`: a mapping; missing or empty is an empty one.
    fn defaults(&self) -> Result<Value, ChartError> {
        let Some(text) = self.text("values.yaml")? else {
            return Ok(Value::Object(Map::new()));
        };
        match crate::yaml::parse_one(&text)
            .map_err(|err| self.invalid("values.yaml", err.to_string()))?
        {
            Value::Null => Ok(Value::Object(Map::new())),
            value @ Value::Object(_) => Ok(value),
            other => Err(self.invalid(
                "values.yaml",
                format!("must be a mapping, found {}", type_name(&other)),
            )),
        }
    }

    /// `templates/`: templates, and partials (`_*` files); `NOTES.txt` is not rendered.
    fn templates(&self, path: &str) -> Result<(Vec<TemplateFile>, Vec<TemplateFile>), ChartError> {
        let mut templates = Vec::new();
        let mut partials = Vec::new();
        for file in self
            .0
            .files
            .iter()
            .filter(|f| f.path.starts_with("templates/"))
        {
            let base = file.path.rsplit('/').next().unwrap_or_default();
            if base == "NOTES.txt" {
                continue;
            }
            let source = String::from_utf8(file.bytes.clone())
                .map_err(|_| self.invalid(&file.path, "is not valid UTF-8".into()))?;
            let template = TemplateFile {
                name: format!("{path}/{}", file.path),
                source,
            };
            if base.starts_with('_') {
                partials.push(template);
            } else {
                templates.push(template);
            }
        }
        Ok((templates, partials))
    }

    /// `charts/`: packaged (`.tgz`, unpacked within what is left of `budget`) and unpacked
    /// sub-charts, sorted by path.
    fn subcharts(
        &self,
        path: &str,
        limits: &Limits,
        budget: &mut u64,
    ) -> Result<Vec<Chart>, ChartError> {
        let origin = &self.0.origin;
        let mut subcharts = Vec::new();
        let mut sub_dirs: Vec<String> = Vec::new();
        for (file, rest) in self
            .0
            .files
            .iter()
            .filter_map(|f| f.path.strip_prefix("charts/").map(|rest| (f, rest)))
        {
            match rest.split_once('/') {
                Some((dir, _)) if !sub_dirs.iter().any(|d| d == dir) => {
                    sub_dirs.push(dir.to_string())
                }
                Some(_) => {}
                None if rest.ends_with(".tgz") => {
                    let within_budget = Limits {
                        max_total_bytes: *budget,
                        ..*limits
                    };
                    let sub_files = archive::read_tar_gz(
                        &format!("{origin}/{}", file.path),
                        &file.bytes,
                        &within_budget,
                    )?
                    .strip_single_top_dir();
                    let inflated: u64 = sub_files.files.iter().map(|f| f.bytes.len() as u64).sum();
                    *budget = budget.saturating_sub(inflated);
                    let stem = rest.trim_end_matches(".tgz");
                    subcharts.push(Chart::from_files_within(
                        &sub_files,
                        Some(&format!("{path}/charts/{stem}")),
                        limits,
                        budget,
                    )?);
                }
                None => {}
            }
        }
        for dir in sub_dirs {
            let prefix = format!("charts/{dir}/");
            let sub_files = Files {
                origin: format!("{origin}/charts/{dir}"),
                files: self
                    .0
                    .files
                    .iter()
                    .filter_map(|f| {
                        f.path.strip_prefix(&prefix).map(|p| archive::File {
                            path: p.to_string(),
                            bytes: f.bytes.clone(),
                        })
                    })
                    .collect(),
            };
            subcharts.push(Chart::from_files_within(
                &sub_files,
                Some(&format!("{path}/charts/{dir}")),
                limits,
                budget,
            )?);
        }
        subcharts.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(subcharts)
    }
}

/// A chart to render with its coalesced values.
#[derive(Debug)]
pub struct Scoped<'c> {
    pub chart: &'c Chart,
    pub values: Value,
}

/// Coalesces user values over the chart tree as Helm does: chart defaults < the parent's
/// `<subchart>:` block < user values; `global` flows down and the parent's wins; a dependency
/// whose `condition` resolves to false is skipped with its whole subtree. Returns every enabled
/// chart with its values, parent first.
pub fn coalesce<'c>(chart: &'c Chart, user: &Value) -> Vec<Scoped<'c>> {
    let mut out = Vec::new();
    let tags = top_level_tags(&chart.defaults, user);
    coalesce_into(chart, user, &tags, &mut out);
    out
}

/// Helm reads `tags` from the top-level values only: the chart's defaults coalesced with the
/// user's values. Only `tags` is coalesced here: the user's values are the whole job (megabytes
/// of values for a thousand flows), and copying them to read one key cost memory on every render.
fn top_level_tags(defaults: &Value, user: &Value) -> Value {
    if !user.is_object() {
        // Coalescing replaces the defaults with whatever the user gave; only a mapping has keys.
        return Value::Null;
    }
    let only_tags = |values: &Value| match values.get("tags") {
        Some(tags) => serde_json::json!({ "tags": tags }),
        None => serde_json::json!({}),
    };
    let mut root = only_tags(defaults);
    values::merge(&mut root, &only_tags(user));
    root.get("tags").cloned().unwrap_or(Value::Null)
}

fn coalesce_into<'c>(
    chart: &'c Chart,
    user: &Value,
    tags: &Value,
    out: &mut Vec<Scoped<'c>>,
) -> Value {
    let mut values = chart.defaults.clone();
    values::merge(&mut values, user);
    let index = out.len();
    out.push(Scoped {
        chart,
        values: Value::Null,
    });
    for sub in &chart.subcharts {
        let dependency = chart
            .meta
            .dependencies
            .iter()
            .find(|d| d.name == sub.meta.name);
        let key = dependency
            .map(Dependency::key)
            .unwrap_or(&sub.meta.name)
            .to_string();
        if dependency.is_some_and(|d| !imports::enabled(d, &values, tags)) {
            continue;
        }
        let mut sub_user = match values.get(&key) {
            Some(Value::Object(block)) => Value::Object(block.clone()),
            _ => Value::Object(Map::new()),
        };
        if let Some(global) = values.get("global") {
            let mut merged_global = sub
                .defaults
                .get("global")
                .cloned()
                .unwrap_or_else(|| Value::Object(Map::new()));
            values::merge(&mut merged_global, global);
            sub_user["global"] = merged_global;
        }
        let sub_values = coalesce_into(sub, &sub_user, tags, out);
        if let Some(dependency) = dependency {
            imports::import(&dependency.import_values, &sub_values, &mut values);
        }
        // Helm lets a parent read its sub-charts' effective values under their key.
        let mut visible = sub_values;
        if let Value::Object(map) = &mut visible {
            map.remove("global");
        }
        values[key] = visible;
    }
    out[index].values = values.clone();
    values
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::archive::File;
    use serde_json::json;

    fn files(entries: &[(&str, &str)]) -> Files {
        Files::from_texts("test-chart", entries)
    }

    fn tgz(entries: &[(String, Vec<u8>)]) -> Vec<u8> {
        let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(
            Vec::new(),
            flate2::Compression::best(),
        ));
        for (path, bytes) in entries {
            let mut header = tar::Header::new_gnu();
            header.set_size(bytes.len() as u64);
            header.set_mode(0o644);
            header.set_cksum();
            builder.append_data(&mut header, path, &bytes[..]).unwrap();
        }
        builder.into_inner().unwrap().finish().unwrap()
    }

    #[test]
    fn nested_packaged_subcharts_share_one_inflate_budget() {
        // Eight levels of sub-charts, each with 10 MiB of zeros: 80 MiB in all, over the 64 MiB
        // one chart tree may inflate to (each level alone is well under it).
        let mut inner: Option<Vec<u8>> = None;
        for level in 0..8 {
            let mut entries = vec![
                (
                    format!("c{level}/Chart.yaml"),
                    format!("apiVersion: v2\nname: c{level}\nversion: 1.0.0\n").into_bytes(),
                ),
                (format!("c{level}/zeros.txt"), vec![0u8; 10 * 1024 * 1024]),
            ];
            if let Some(bytes) = inner.take() {
                entries.push((format!("c{level}/charts/c{}.tgz", level - 1), bytes));
            }
            inner = Some(tgz(&entries));
        }
        let packed = inner.unwrap();
        assert!(packed.len() < 1024 * 1024, "{}", packed.len());
        let top = Files {
            origin: "top".into(),
            files: vec![
                File {
                    path: "Chart.yaml".into(),
                    bytes: b"apiVersion: v2\nname: top\nversion: 1.0.0\n".to_vec(),
                },
                File {
                    path: "charts/c7.tgz".into(),
                    bytes: packed,
                },
            ],
        };
        let err = Chart::from_files(&top, None).unwrap_err().to_string();
        assert!(err.contains("over the total limit"), "{err}");
    }

    fn umbrella() -> Chart {
        Chart::from_files(
            &files(&[
                ("Chart.yaml", "apiVersion: v2\nname: top\nversion: 1.0.0\ndependencies:\n- {name: sub, condition: sub.enabled}\n- {name: other, alias: renamed}\n"),
                ("values.yaml", "global: {registry: top.io}\nsub: {enabled: true, color: red}\nrenamed: {size: 3}\n"),
                ("templates/a.yaml", "x"),
                ("templates/_helpers.tpl", "y"),
                ("charts/sub/Chart.yaml", "apiVersion: v2\nname: sub\nversion: 0.1.0\n"),
                ("charts/sub/values.yaml", "color: blue\nshape: round\nglobal: {registry: sub.io, own: yes}\n"),
                ("charts/other/Chart.yaml", "apiVersion: v2\nname: other\nversion: 0.1.0\n"),
                ("charts/other/values.yaml", "size: 1\n"),
            ]),
            None,
        )
        .unwrap()
    }

    #[test]
    fn loads_templates_partials_and_subcharts() {
        let chart = umbrella();
        assert_eq!(chart.templates.len(), 1);
        assert_eq!(chart.templates[0].name, "top/templates/a.yaml");
        assert_eq!(chart.partials.len(), 1);
        assert_eq!(
            chart
                .subcharts
                .iter()
                .map(|c| c.path.as_str())
                .collect::<Vec<_>>(),
            ["top/charts/other", "top/charts/sub"]
        );
    }

    #[test]
    fn coalesces_like_helm() {
        let chart = umbrella();
        let scoped = coalesce(
            &chart,
            &json!({"sub": {"shape": "square"}, "global": {"trace": true}}),
        );
        let by_path = |p: &str| &scoped.iter().find(|s| s.chart.path == p).unwrap().values;
        let sub = by_path("top/charts/sub");
        assert_eq!(sub["color"], "red", "parent block beats sub-chart default");
        assert_eq!(sub["shape"], "square", "user values beat both");
        assert_eq!(
            sub["global"],
            json!({"registry": "top.io", "own": "yes", "trace": true})
        );
        assert_eq!(
            by_path("top/charts/other")["size"],
            3,
            "alias selects the block"
        );
        assert_eq!(
            by_path("top")["sub"]["shape"],
            "square",
            "parent sees sub-chart values"
        );
    }

    #[test]
    fn false_condition_skips_subchart() {
        let chart = umbrella();
        let scoped = coalesce(&chart, &json!({"sub": {"enabled": false}}));
        assert!(scoped.iter().all(|s| s.chart.meta.name != "sub"));
    }

    #[test]
    fn missing_dependency_and_bad_meta_are_errors() {
        let err = Chart::from_files(
            &files(&[(
                "Chart.yaml",
                "apiVersion: v2\nname: a\nversion: 1.0.0\ndependencies: [{name: gone}]\n",
            )]),
            None,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("dependency `gone` is declared"), "{err}");
        let err = Chart::from_files(
            &files(&[(
                "Chart.yaml",
                "apiVersion: v2\nname: a\nversion: 1.0.0\nbogus: 1\n",
            )]),
            None,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("unknown field `bogus`"), "{err}");
        let err = Chart::from_files(&files(&[("values.yaml", "a: 1")]), None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("Chart.yaml: is missing"), "{err}");
    }

    /// The tags read without coalescing the whole values are those of the coalesced values.
    #[test]
    fn top_level_tags_are_those_of_the_coalesced_values() {
        let defaults = [
            json!({"tags": {"web": true, "api": false}, "replicas": 1}),
            json!({"replicas": 1}),
            json!({"tags": null}),
            json!(null),
        ];
        let users = [
            json!({"tags": {"web": false, "db": null}, "flows": [1, 2]}),
            json!({"tags": null}),
            json!({"tags": {"api": {"nested": null}}}),
            json!({"flows": [1]}),
            json!({}),
            json!(null),
            json!([1]),
        ];
        for defaults in &defaults {
            for user in &users {
                let mut coalesced = defaults.clone();
                values::merge(&mut coalesced, user);
                let expected = coalesced.get("tags").cloned().unwrap_or(Value::Null);
                assert_eq!(
                    top_level_tags(defaults, user),
                    expected,
                    "defaults {defaults}, user {user}"
                );
            }
        }
    }
}
