//! `diff`: what an install would change, object by object, from a server-side dry-run apply
//! against the live objects. Nothing is written: not the objects, not the job record.

use super::record;
use super::{Cluster, ClusterError, FIELD_MANAGER};
use crate::manifest::Object;
use futures::{StreamExt, TryStreamExt, stream};
use kube::api::{Patch, PatchParams};
use serde_json::Value;

/// What an install would do to one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Not on the cluster: the rendered object, as YAML.
    Created(String),
    /// A unified diff of the live object against the dry-run result.
    Changed(String),
    /// A batch Job whose pod template changed: install replaces it.
    Replaced(String),
    Unchanged,
    /// In the job record's inventory but no longer rendered: install deletes it.
    Pruned,
}

impl Change {
    pub fn is_change(&self) -> bool {
        !matches!(self, Change::Unchanged)
    }

    pub fn word(&self) -> &'static str {
        match self {
            Change::Created(_) => "created",
            Change::Changed(_) => "changed",
            Change::Replaced(_) => "replaced",
            Change::Unchanged => "unchanged",
            Change::Pruned => "pruned",
        }
    }
}

#[derive(Debug, Clone)]
pub struct ObjectDiff {
    /// `Kind/name`.
    pub object: String,
    pub change: Change,
}

/// Each rendered object's change (in install order), then what would be pruned.
pub async fn diff(
    cluster: &Cluster,
    namespace: &str,
    job_id: &str,
    objects: &[Object],
    concurrency: usize,
) -> Result<Vec<ObjectDiff>, ClusterError> {
    let mut diffs: Vec<ObjectDiff> = stream::iter(objects.iter().map(|object| async move {
        Ok::<_, ClusterError>(ObjectDiff {
            object: object.display(),
            change: diff_one(cluster, object).await?,
        })
    }))
    .buffered(concurrency.max(1))
    .try_collect()
    .await?;
    if let Some(record) = record::read(cluster, namespace, job_id).await? {
        for entry in &record.inventory {
            if !objects.iter().any(|o| o.key() == entry.key()) {
                diffs.push(ObjectDiff {
                    object: entry.display(),
                    change: Change::Pruned,
                });
            }
        }
    }
    Ok(diffs)
}

async fn diff_one(cluster: &Cluster, object: &Object) -> Result<Change, ClusterError> {
    let api = cluster.api_for(object).await?;
    let read = format!("read {}", object.display());
    let live = cluster
        .with_retry(&read, || api.get_opt(object.name()))
        .await
        .map_err(|e| ClusterError::api(read.clone(), e))?;
    let Some(live) = live else {
        let mut rendered = object.value.clone();
        mask_secret(object.kind(), &mut rendered, None, "");
        return Ok(Change::Created(crate::yaml::to_string(&rendered)));
    };
    let mut params = PatchParams::apply(FIELD_MANAGER);
    params.dry_run = true;
    let action = format!("dry-run apply {}", object.display());
    let patch = Patch::Apply(&object.value);
    let live = serde_json::to_value(&live).unwrap_or_default();
    let after = match cluster
        .with_retry(&action, || api.patch(object.name(), &params, &patch))
        .await
    {
        Ok(after) => serde_json::to_value(&after).unwrap_or_default(),
        Err(kube::Error::Api(status))
            if object.kind() == "Job"
                && status.code == 422
                && status.message.contains("field is immutable") =>
        {
            let (before, after) = comparable(object.kind(), &live, &object.value);
            return Ok(Change::Replaced(unified(&before, &after)));
        }
        Err(err) => return Err(ClusterError::api(action, err)),
    };
    let (before, after) = comparable(object.kind(), &live, &after);
    Ok(if before == after {
        Change::Unchanged
    } else {
        Change::Changed(unified(&before, &after))
    })
}

/// Both objects as YAML without what the API server keeps for itself (managed fields, resource
/// version, generation, status), Secret data masked.
fn comparable(kind: &str, before: &Value, after: &Value) -> (String, String) {
    let strip = |value: &Value| {
        let mut value = value.clone();
        if let Some(object) = value.as_object_mut() {
            object.remove("status");
            if let Some(metadata) = object.get_mut("metadata").and_then(Value::as_object_mut) {
                for key in ["managedFields", "resourceVersion", "generation"] {
                    metadata.remove(key);
                }
            }
        }
        value
    };
    let (mut before, mut after) = (strip(before), strip(after));
    let before_copy = before.clone();
    mask_secret(kind, &mut before, Some(&after), "before");
    mask_secret(kind, &mut after, Some(&before_copy), "after");
    (
        crate::yaml::to_string(&before),
        crate::yaml::to_string(&after),
    )
}

/// A Secret's `data` and `stringData` values become `***`; where `other` holds a different value
/// for the key, `*** (<side>)`, so that a change shows in the diff without the secret.
pub fn mask_secret(kind: &str, value: &mut Value, other: Option<&Value>, side: &str) {
    if kind != "Secret" {
        return;
    }
    for field in ["data", "stringData"] {
        let theirs = other.and_then(|o| o.get(field)).cloned();
        if let Some(map) = value.get_mut(field).and_then(Value::as_object_mut) {
            for (key, secret) in map.iter_mut() {
                let same = theirs.as_ref().and_then(|t| t.get(key)) == Some(&*secret);
                *secret = Value::String(if other.is_some() && !same {
                    format!("*** ({side})")
                } else {
                    "***".to_string()
                });
            }
        }
    }
}

/// Lines of context around each change.
const CONTEXT: usize = 3;
/// Above this many line pairs the diff is not aligned: everything before, then everything after.
const MAX_CELLS: usize = 4_000_000;

/// A unified diff (`--- live`, `+++ rendered`, `@@` hunks with 3 lines of context).
pub fn unified(before: &str, after: &str) -> String {
    let a: Vec<&str> = before.lines().collect();
    let b: Vec<&str> = after.lines().collect();
    let ops = line_ops(&a, &b);
    let mut out = String::from("--- live\n+++ rendered\n");
    let changed: Vec<usize> = (0..ops.len()).filter(|&i| ops[i].0 != ' ').collect();
    let mut i = 0;
    while i < changed.len() {
        let start = changed[i].saturating_sub(CONTEXT);
        let mut end = (changed[i] + CONTEXT + 1).min(ops.len());
        while i + 1 < changed.len() && changed[i + 1] <= end + CONTEXT {
            i += 1;
            end = (changed[i] + CONTEXT + 1).min(ops.len());
        }
        let (old_start, new_start) = (
            ops[..start].iter().filter(|o| o.0 != '+').count(),
            ops[..start].iter().filter(|o| o.0 != '-').count(),
        );
        let hunk = &ops[start..end];
        out.push_str(&format!(
            "@@ -{},{} +{},{} @@\n",
            old_start + 1,
            hunk.iter().filter(|o| o.0 != '+').count(),
            new_start + 1,
            hunk.iter().filter(|o| o.0 != '-').count()
        ));
        for (op, line) in hunk {
            out.push_str(&format!("{op}{line}\n"));
        }
        i += 1;
    }
    out
}

/// Each line as kept (' '), removed ('-') or added ('+'), from a longest common subsequence.
fn line_ops<'a>(a: &[&'a str], b: &[&'a str]) -> Vec<(char, &'a str)> {
    if a.len().saturating_mul(b.len()) > MAX_CELLS {
        return a
            .iter()
            .map(|l| ('-', *l))
            .chain(b.iter().map(|l| ('+', *l)))
            .collect();
    }
    let (n, m) = (a.len(), b.len());
    let mut lcs = vec![0u32; (n + 1) * (m + 1)];
    let at = |i: usize, j: usize| i * (m + 1) + j;
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            lcs[at(i, j)] = if a[i] == b[j] {
                lcs[at(i + 1, j + 1)] + 1
            } else {
                lcs[at(i + 1, j)].max(lcs[at(i, j + 1)])
            };
        }
    }
    let (mut i, mut j, mut ops) = (0, 0, Vec::with_capacity(n + m));
    while i < n || j < m {
        if i < n && j < m && a[i] == b[j] {
            ops.push((' ', a[i]));
            i += 1;
            j += 1;
        } else if i < n && (j == m || lcs[at(i + 1, j)] >= lcs[at(i, j + 1)]) {
            ops.push(('-', a[i]));
            i += 1;
        } else {
            ops.push(('+', b[j]));
            j += 1;
        }
    }
    ops
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unified_diff_has_hunks_with_context() {
        let before = (1..=20).map(|i| format!("l{i}\n")).collect::<String>();
        let after = before.replace("l5\n", "five\n").replace("l18\n", "");
        let diff = unified(&before, &after);
        assert_eq!(
            diff,
            "--- live\n+++ rendered\n@@ -2,7 +2,7 @@\n l2\n l3\n l4\n-l5\n+five\n l6\n l7\n l8\n\
             @@ -15,6 +15,5 @@\n l15\n l16\n l17\n-l18\n l19\n l20\n"
        );
        assert_eq!(unified("a\n", "a\n"), "--- live\n+++ rendered\n");
    }

    #[test]
    fn secrets_are_masked_and_changes_still_show() {
        let live = json!({"kind": "Secret", "metadata": {"name": "s", "resourceVersion": "7"},
                          "data": {"user": "YWRtaW4=", "password": "b2xk"}});
        let after = json!({"kind": "Secret", "metadata": {"name": "s", "resourceVersion": "8"},
                           "data": {"user": "YWRtaW4=", "password": "bmV3"}});
        let (before, after) = comparable("Secret", &live, &after);
        assert!(!before.contains("b2xk") && !after.contains("bmV3") && !after.contains("YWRtaW4="));
        let diff = unified(&before, &after);
        assert!(
            diff.contains("-  password: '*** (before)'\n+  password: '*** (after)'"),
            "{diff}"
        );
        assert!(
            diff.contains("\n   user: '***'\n"),
            "an unchanged key is context, not a change: {diff}"
        );
        assert!(!diff.contains("resourceVersion"), "{diff}");

        let mut created = json!({"data": {"k": "c2VjcmV0"}, "stringData": {"t": "plain"}});
        mask_secret("Secret", &mut created, None, "");
        assert_eq!(
            created,
            json!({"data": {"k": "***"}, "stringData": {"t": "***"}})
        );
    }
}
