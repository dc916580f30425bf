//! Helm's dependency switches and value imports: `condition`, `tags` and `import-values`.

use super::Dependency;
use crate::values;
use serde_json::{Map, Value};

/// One entry of a dependency's `import-values`, in either of Helm's forms.
#[derive(Debug, Clone, serde::Deserialize, serde::Serialize, PartialEq)]
#[serde(untagged)]
pub enum Import {
    /// `- data`: the child's `exports.data`, merged into the parent's top level.
    Exported(String),
    /// `- {child: default.data, parent: mydata}`: the child's values at `child`, placed at the
    /// parent's `parent` (`.` for the top level).
    Paths { child: String, parent: String },
}

impl Import {
    fn paths(&self) -> (String, &str) {
        match self {
            Import::Exported(name) => (format!("exports.{name}"), "."),
            Import::Paths { child, parent } => (child.clone(), parent.as_str()),
        }
    }
}

/// Whether a dependency is rendered, as Helm decides: the first path of its `condition` that
/// holds a boolean decides; without one, its `tags` (read from the top-level `tags:` values)
/// disable it when one of them is false and none is true; otherwise it is enabled.
pub fn enabled(dependency: &Dependency, values: &Value, tags: &Value) -> bool {
    if let Some(condition) = &dependency.condition
        && let Some(decided) = condition
            .split(',')
            .map(str::trim)
            .find_map(|path| values::lookup(values, path).and_then(Value::as_bool))
    {
        return decided;
    }
    let states: Vec<bool> = dependency
        .tags
        .iter()
        .filter_map(|tag| tags.get(tag).and_then(Value::as_bool))
        .collect();
    states.is_empty() || states.contains(&true)
}

/// Copies the child's values named by `imports` into `parent`. The parent's own values win over
/// imported ones (Helm 3), so a parent can import a block and override parts of it. A child
/// path that does not exist imports nothing, as in Helm.
pub fn import(imports: &[Import], child: &Value, parent: &mut Value) {
    for entry in imports {
        let (child_path, parent_path) = entry.paths();
        let Some(imported) = values::lookup(child, &child_path) else {
            tracing::debug!(path = %child_path, "import-values: nothing to import");
            continue;
        };
        let segments: Vec<&str> = parent_path
            .split('.')
            .filter(|segment| !segment.is_empty())
            .collect();
        let mut slot = &mut *parent;
        for segment in &segments {
            if !slot.is_object() {
                *slot = Value::Object(Map::new());
            }
            slot = slot
                .as_object_mut()
                .expect("just made a mapping")
                .entry(segment.to_string())
                .or_insert(Value::Null);
        }
        let mut merged = imported.clone();
        if !slot.is_null() {
            values::merge(&mut merged, slot);
        }
        *slot = merged;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::archive::Files;
    use crate::chart::{Chart, coalesce};
    use serde_json::json;

    fn chart(entries: &[(&str, &str)]) -> Chart {
        Chart::from_files(&Files::from_texts("top", entries), None).unwrap()
    }

    fn tagged() -> Chart {
        chart(&[
            (
                "Chart.yaml",
                "apiVersion: v2\nname: top\nversion: 1.0.0\ndependencies:\n\
                 - {name: front, tags: [web]}\n\
                 - {name: back, tags: [api, web], condition: back.enabled}\n",
            ),
            (
                "charts/front/Chart.yaml",
                "apiVersion: v2\nname: front\nversion: 0.1.0\n",
            ),
            (
                "charts/back/Chart.yaml",
                "apiVersion: v2\nname: back\nversion: 0.1.0\n",
            ),
        ])
    }

    fn rendered(chart: &Chart, values: Value) -> Vec<String> {
        coalesce(chart, &values)
            .iter()
            .map(|s| s.chart.meta.name.clone())
            .collect()
    }

    #[test]
    fn tags_disable_unless_a_condition_decides() {
        let chart = tagged();
        assert_eq!(rendered(&chart, json!({})), ["top", "back", "front"]);
        assert_eq!(rendered(&chart, json!({"tags": {"web": false}})), ["top"]);
        assert_eq!(
            rendered(&chart, json!({"tags": {"web": false, "api": true}})),
            ["top", "back"],
            "one true tag enables"
        );
        assert_eq!(
            rendered(
                &chart,
                json!({"tags": {"web": false}, "back": {"enabled": true}})
            ),
            ["top", "back"],
            "the condition wins over tags"
        );
    }

    #[test]
    fn import_values_in_both_forms_below_the_parents_own() {
        let chart = chart(&[
            (
                "Chart.yaml",
                "apiVersion: v2\nname: top\nversion: 1.0.0\ndependencies:\n\
                 - name: db\n  alias: database\n  import-values:\n  - conn\n  - {child: settings.pool, parent: pool}\n  - {child: nothing.here, parent: none}\n",
            ),
            ("values.yaml", "pool: {max: 50}\nport: 1\n"),
            (
                "charts/db/Chart.yaml",
                "apiVersion: v2\nname: db\nversion: 0.1.0\n",
            ),
            (
                "charts/db/values.yaml",
                "exports:\n  conn: {host: db, port: 5432}\nsettings:\n  pool: {min: 1, max: 10}\n",
            ),
        ]);
        let scoped = coalesce(
            &chart,
            &json!({"database": {"settings": {"pool": {"min": 2}}}}),
        );
        let top = &scoped[0].values;
        assert_eq!(
            top["host"], "db",
            "string form: exports.conn merged at the top"
        );
        assert_eq!(top["port"], 1, "the parent's own value wins");
        assert_eq!(
            top["pool"],
            json!({"min": 2, "max": 50}),
            "map form: the child's coalesced values, below the parent's"
        );
        assert!(top.get("none").is_none());
        assert_eq!(top["database"]["exports"]["conn"]["port"], 5432);
    }
}
