//! Helm-style values: coalescing trees, `--set a.b=c` expressions and `-f values.yaml` files.

pub mod flags;

use serde_json::{Map, Value};

#[derive(Debug, thiserror::Error)]
pub enum ValuesError {
    #[error("{flag} `{expression}`: {reason}")]
    Set {
        /// `--set`, `--set-string`, `--set-json` or `--set-file`.
        flag: &'static str,
        expression: String,
        reason: String,
    },
    #[error("{file}: {reason}")]
    File { file: String, reason: String },
    #[error(
        "`{key}` is set by the executor (from --job-id, --namespace and the IR); -f and --set may not change it"
    )]
    Reserved { key: String },
    #[error(
        "`global.artifacts.credentialsSecret` is `{name}`, the Secret install creates with --artifact-credentials from-env; -f and --set may not change it (to name an existing Secret, use --artifact-credentials reference)"
    )]
    CredentialsSecret { name: String },
}

/// Overlays `top` onto `base` the way Helm coalesces user values over chart defaults: mappings
/// merge key by key, anything else (lists included) replaces, and `null` deletes the key.
pub fn merge(base: &mut Value, top: &Value) {
    match (base, top) {
        (Value::Object(base), Value::Object(top)) => {
            for (key, value) in top {
                if value.is_null() {
                    base.remove(key);
                } else if let Some(existing) = base.get_mut(key) {
                    merge(existing, value);
                } else {
                    base.insert(key.clone(), strip_nulls(value));
                }
            }
        }
        (base, top) => *base = strip_nulls(top),
    }
}

/// Overlays one user-supplied layer on another, as Helm merges several `-f` files before
/// coalescing them with chart defaults: mappings merge key by key, anything else (lists included)
/// replaces, and a `null` replaces too and stays, so that it still deletes the chart default
/// when the result is coalesced with [`merge`].
pub fn overlay(base: &mut Value, top: &Value) {
    match (base, top) {
        (Value::Object(base), Value::Object(top)) => {
            for (key, value) in top {
                match base.get_mut(key) {
                    Some(existing) => overlay(existing, value),
                    None => {
                        base.insert(key.clone(), value.clone());
                    }
                }
            }
        }
        (base, top) => *base = top.clone(),
    }
}

fn strip_nulls(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), strip_nulls(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Reads a `-f` values file: a YAML mapping (or empty).
pub fn parse_values_file(file: &str, text: &str) -> Result<Value, ValuesError> {
    let value = crate::yaml::parse_one(text).map_err(|err| ValuesError::File {
        file: file.to_string(),
        reason: err.to_string(),
    })?;
    match value {
        Value::Null => Ok(Value::Object(Map::new())),
        Value::Object(_) => Ok(value),
        other => Err(ValuesError::File {
            file: file.to_string(),
            reason: format!(
                "must be a mapping, found {}",
                crate::schema::type_name(&other)
            ),
        }),
    }
}

/// Applies one `--set` argument: `a.b=c`, several separated by `,`, `list[0]=x`, `{a,b}` lists,
/// `\.` and `\,` escapes; `true`/`false`/`null` and integers are typed as Helm types them.
pub fn apply_set(values: &mut Value, expression: &str) -> Result<(), ValuesError> {
    apply_set_as(values, expression, "--set", typed_value)
}

/// [`apply_set`] with the value's typing given: `--set` types scalars, `--set-string` never does.
fn apply_set_as(
    values: &mut Value,
    expression: &str,
    flag: &'static str,
    type_value: fn(&str) -> Value,
) -> Result<(), ValuesError> {
    for assignment in split_unescaped(expression, ',', true) {
        let Some((path, raw)) = split_once_unescaped(&assignment, '=') else {
            return Err(ValuesError::Set {
                flag,
                expression: shown_key(&assignment),
                reason: "expected key=value".into(),
            });
        };
        // The value is never repeated in a message: it may be a secret.
        let error = |reason: &str| ValuesError::Set {
            flag,
            expression: shown_key(&path),
            reason: reason.to_string(),
        };
        let segments = parse_path(&path).map_err(|reason| error(&reason))?;
        if segments.len() > MAX_SET_SEGMENTS {
            return Err(error(&format!(
                "the key has more than {MAX_SET_SEGMENTS} segments"
            )));
        }
        if list_depth(&raw) > MAX_SET_LIST_DEPTH {
            return Err(error(&format!(
                "`{{…}}` lists nest deeper than {MAX_SET_LIST_DEPTH} levels"
            )));
        }
        let value = list_or(&raw, type_value);
        set_path(values, &segments, value).map_err(|reason| error(&reason))?;
    }
    Ok(())
}

#[derive(Debug, PartialEq)]
enum Segment {
    Key(String),
    Index(usize),
}

/// A `--set` path may have this many segments (keys and indexes).
pub const MAX_SET_SEGMENTS: usize = 64;
/// `{…}` lists in a `--set` value may nest this deep.
pub const MAX_SET_LIST_DEPTH: usize = 8;

fn parse_path(path: &str) -> Result<Vec<Segment>, String> {
    if path.split('.').count() > MAX_SET_SEGMENTS || path.matches('[').count() > MAX_SET_SEGMENTS {
        return Err(format!("the key has more than {MAX_SET_SEGMENTS} segments"));
    }
    let mut segments = Vec::new();
    for part in split_unescaped(path, '.', false) {
        let part = part.replace("\\.", ".");
        let (key, mut rest) = match part.find('[') {
            Some(pos) => (&part[..pos], &part[pos..]),
            None => (part.as_str(), ""),
        };
        if key.is_empty() && segments.is_empty() {
            return Err(format!("empty key in `{path}`"));
        }
        if !key.is_empty() {
            segments.push(Segment::Key(key.to_string()));
        }
        while let Some(stripped) = rest.strip_prefix('[') {
            let end = stripped
                .find(']')
                .ok_or_else(|| format!("unclosed `[` in `{path}`"))?;
            let index = stripped[..end]
                .parse()
                .map_err(|_| format!("`{}` is not a list index", &stripped[..end]))?;
            if index > 10_000 {
                return Err(format!("list index {index} is too large"));
            }
            segments.push(Segment::Index(index));
            rest = &stripped[end + 1..];
        }
        if !rest.is_empty() {
            return Err(format!("unexpected `{rest}` in `{path}`"));
        }
    }
    if segments.is_empty() {
        return Err("empty key".to_string());
    }
    Ok(segments)
}

fn set_path(target: &mut Value, segments: &[Segment], value: Value) -> Result<(), String> {
    let Some((first, rest)) = segments.split_first() else {
        *target = value;
        return Ok(());
    };
    match first {
        Segment::Key(key) => {
            if !target.is_object() {
                *target = Value::Object(Map::new());
            }
            let map = target.as_object_mut().expect("just made an object");
            let slot = map.entry(key.clone()).or_insert(Value::Null);
            set_path(slot, rest, value)
        }
        Segment::Index(index) => {
            if !target.is_array() {
                *target = Value::Array(Vec::new());
            }
            let list = target.as_array_mut().expect("just made a list");
            if list.len() <= *index {
                list.resize(index + 1, Value::Null);
            }
            set_path(&mut list[*index], rest, value)
        }
    }
}

/// `{a,b}` is a list whose items are typed by `type_value`; anything else is one value.
fn list_or(raw: &str, type_value: fn(&str) -> Value) -> Value {
    if raw.starts_with('{') && raw.ends_with('}') && raw.len() >= 2 {
        let inner = &raw[1..raw.len() - 1];
        Value::Array(
            split_unescaped(inner, ',', false)
                .into_iter()
                .filter(|s| !s.is_empty())
                .map(|s| type_value(&s))
                .collect(),
        )
    } else {
        type_value(raw)
    }
}

fn typed_value(raw: &str) -> Value {
    let unescaped = raw.replace("\\,", ",");
    match unescaped.as_str() {
        "true" => Value::Bool(true),
        "false" => Value::Bool(false),
        "null" => Value::Null,
        text => match text.parse::<i64>() {
            // Helm keeps "0123" a string: a leading zero is not a number someone meant.
            Ok(n) if !(text.starts_with('0') && text.len() > 1) => Value::from(n),
            _ => Value::String(text.to_string()),
        },
    }
}

/// A `--set` key as an error message shows it: at most 80 characters, and only if it looks like
/// a key (an assignment without `=` may be a value that lost its key, such as a password).
fn shown_key(key: &str) -> String {
    let key_like = key
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "._-[]\\/".contains(c));
    if !key_like {
        return "(not shown: it does not look like a key and may hold a secret)".into();
    }
    if key.chars().count() > 80 {
        format!("{}…", key.chars().take(80).collect::<String>())
    } else {
        key.to_string()
    }
}

/// How deep `{` nest in a `--set` value (an upper bound of the list nesting `typed_value` reads).
fn list_depth(raw: &str) -> usize {
    let (mut depth, mut deepest) = (0usize, 0usize);
    for c in raw.chars() {
        match c {
            '{' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            '}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

/// Splits on `sep` unless escaped with `\`; with `respect_braces`, separators inside `{…}` stay.
fn split_unescaped(text: &str, sep: char, respect_braces: bool) -> Vec<String> {
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut depth = 0usize;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&sep) => {
                current.push('\\');
                current.push(chars.next().expect("peeked"));
            }
            '{' if respect_braces => {
                depth += 1;
                current.push(c);
            }
            '}' if respect_braces => {
                depth = depth.saturating_sub(1);
                current.push(c);
            }
            c if c == sep && depth == 0 => parts.push(std::mem::take(&mut current)),
            c => current.push(c),
        }
    }
    parts.push(current);
    parts
}

fn split_once_unescaped(text: &str, sep: char) -> Option<(String, String)> {
    let mut previous = None;
    for (i, c) in text.char_indices() {
        if c == sep && previous != Some('\\') {
            return Some((text[..i].to_string(), text[i + 1..].to_string()));
        }
        previous = Some(c);
    }
    None
}

/// Looks up a dotted path (`a.b.c`) in a tree.
pub fn lookup<'v>(values: &'v Value, path: &str) -> Option<&'v Value> {
    path.split('.').try_fold(values, |node, key| node.get(key))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_follows_helm() {
        let mut base = json!({"a": {"x": 1, "y": 2}, "list": [1, 2], "gone": 1});
        merge(
            &mut base,
            &json!({"a": {"y": 3, "z": null}, "list": [9], "gone": null, "new": {"k": null, "v": 1}}),
        );
        assert_eq!(
            base,
            json!({"a": {"x": 1, "y": 3}, "list": [9], "new": {"v": 1}})
        );
    }

    #[test]
    fn overlay_merges_mappings_and_keeps_nulls() {
        let mut base = json!({"a": {"x": 1, "y": 2}, "list": [1, 2], "gone": 1, "scalar": "s"});
        overlay(
            &mut base,
            &json!({"a": {"y": 3, "z": null}, "list": [9], "gone": null, "scalar": {"now": "map"}, "new": {"k": null}}),
        );
        assert_eq!(
            base,
            json!({"a": {"x": 1, "y": 3, "z": null}, "list": [9], "gone": null, "scalar": {"now": "map"}, "new": {"k": null}})
        );
        // A mapping over a scalar replaces it; a scalar over a mapping replaces it too.
        let mut base = json!({"a": {"x": 1}});
        overlay(&mut base, &json!({"a": "flat"}));
        assert_eq!(base, json!({"a": "flat"}));
    }

    #[test]
    fn set_expressions() {
        let mut values = json!({"a": {"keep": 1}});
        apply_set(
            &mut values,
            "a.b=true,a.c=12,a.d=0123,list[1]=x,dotted\\.key=v,l={x,y}",
        )
        .unwrap();
        assert_eq!(
            values,
            json!({"a": {"keep": 1, "b": true, "c": 12, "d": "0123"}, "list": [null, "x"], "dotted.key": "v", "l": ["x", "y"]})
        );
        apply_set(&mut values, "a.text=one\\,two").unwrap();
        assert_eq!(values["a"]["text"], "one,two");
    }

    #[test]
    fn set_errors_name_the_expression() {
        let mut values = json!({});
        let err = apply_set(&mut values, "novalue").unwrap_err().to_string();
        assert_eq!(err, "--set `novalue`: expected key=value");
        assert!(
            apply_set(&mut values, "a[x]=1")
                .unwrap_err()
                .to_string()
                .contains("not a list index")
        );
        // A value is never repeated: it may be a secret.
        let err = apply_set(&mut values, "a.b[1=s3cr3t")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("--set `a.b[1`:") && !err.contains("s3cr3t"),
            "{err}"
        );
        let err = apply_set(&mut values, "p@ss:w0rd!")
            .unwrap_err()
            .to_string();
        assert!(!err.contains("w0rd"), "{err}");
        assert!(apply_set(&mut values, "a[99999999]=1").is_err());
    }

    #[test]
    fn huge_set_expressions_are_errors_not_crashes() {
        let mut values = json!({});
        let long_path = format!("{}=1", vec!["a"; 60_000].join("."));
        let err = apply_set(&mut values, &long_path).unwrap_err().to_string();
        assert!(
            err.contains("more than 64 segments"),
            "{}",
            &err[err.len() - 80..]
        );
        let braces = format!("a={}{}", "{".repeat(30_000), "}".repeat(30_000));
        let err = apply_set(&mut values, &braces).unwrap_err().to_string();
        assert!(
            err.contains("nest deeper than 8"),
            "{}",
            &err[err.len() - 80..]
        );
        apply_set(&mut values, "a={x,{y,z}}").unwrap();
    }

    #[test]
    fn values_files_must_be_mappings() {
        assert!(parse_values_file("v.yaml", "").unwrap().is_object());
        let err = parse_values_file("v.yaml", "- a\n")
            .unwrap_err()
            .to_string();
        assert_eq!(err, "v.yaml: must be a mapping, found a list");
    }
}
