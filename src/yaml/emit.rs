//! A YAML emitter for `serde_json::Value` that writes exactly what `serde_norway::to_string`
//! writes, several times faster: rendering a large job emits megabytes of YAML, and the libyaml
//! port behind serde_norway spent a quarter of `render`'s time on it.
//!
//! It covers the shapes and scalars rendered objects are made of: block mappings and sequences,
//! empty ones as `{}`/`[]`, numbers, booleans, null, and strings of printable ASCII written plain,
//! single-quoted or as literal blocks. Anything else (floats, other characters, long or
//! multi-line keys, `|+` blocks, a document that is a single scalar) makes [`emit`] return
//! `None` and the caller falls back to serde_norway, so the output never differs.
//! The style rules are libyaml's (`yaml_emitter_analyze_scalar`, `yaml_emitter_select_scalar_style`)
//! with serde_norway's settings (indent 2, unlimited width) and its choice of quoting for
//! strings that would read back as another type; the tests compare both emitters.

use serde_json::{Map, Value};

/// The document as serde_norway would emit it, or `None` where this emitter does not cover it.
#[cfg(test)]
pub fn emit(value: &Value) -> Option<String> {
    let mut out = String::new();
    emit_into(&mut out, value).then_some(out)
}

/// Appends the document as serde_norway would emit it to `out`; `false` (and `out` as it was)
/// where this emitter does not cover it.
pub fn emit_into(out: &mut String, value: &Value) -> bool {
    let start = out.len();
    let covered = match value {
        Value::Object(map) if !map.is_empty() => mapping(out, map, 0, false),
        Value::Array(items) if !items.is_empty() => sequence(out, items, 0, false),
        _ => None,
    };
    if covered.is_none() {
        out.truncate(start);
    }
    covered.is_some()
}

/// Keys at `indent`; `inline`: the first key goes on the current line (after `- `).
fn mapping(out: &mut String, map: &Map<String, Value>, indent: usize, inline: bool) -> Option<()> {
    for (position, (key, value)) in map.iter().enumerate() {
        if position > 0 || !inline {
            pad(out, indent);
        }
        // libyaml writes keys longer than 128 bytes or with line breaks as `? key`.
        if key.len() > 128 || key.contains('\n') {
            return None;
        }
        inline_scalar(out, key)?;
        out.push(':');
        match value {
            Value::Object(inner) if !inner.is_empty() => {
                out.push('\n');
                mapping(out, inner, indent + 2, false)?;
            }
            // A sequence in a mapping is not indented further ("indentless").
            Value::Array(items) if !items.is_empty() => {
                out.push('\n');
                sequence(out, items, indent, false)?;
            }
            scalar_value => {
                out.push(' ');
                node_scalar(out, scalar_value, indent + 2)?;
            }
        }
    }
    Some(())
}

/// Items at `indent`; `inline`: the first `- ` goes on the current line (after `- `).
fn sequence(out: &mut String, items: &[Value], indent: usize, inline: bool) -> Option<()> {
    for (position, item) in items.iter().enumerate() {
        if position > 0 || !inline {
            pad(out, indent);
        }
        out.push_str("- ");
        match item {
            Value::Object(inner) if !inner.is_empty() => mapping(out, inner, indent + 2, true)?,
            Value::Array(inner) if !inner.is_empty() => sequence(out, inner, indent + 2, true)?,
            scalar_value => node_scalar(out, scalar_value, indent + 2)?,
        }
    }
    Some(())
}

fn pad(out: &mut String, indent: usize) {
    out.extend(std::iter::repeat_n(' ', indent));
}

/// A scalar (or empty collection) in value position, with its line break; a literal block's
/// lines go at `block_indent`.
fn node_scalar(out: &mut String, value: &Value, block_indent: usize) -> Option<()> {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) if n.is_f64() => return None,
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::Object(_) => out.push_str("{}"),
        Value::Array(_) => out.push_str("[]"),
        Value::String(s) if s.contains('\n') => return literal(out, s, block_indent),
        Value::String(s) => inline_scalar(out, s)?,
    }
    out.push('\n');
    Some(())
}

/// A single-line string: plain where libyaml allows it and it reads back as a string,
/// single-quoted otherwise.
fn inline_scalar(out: &mut String, s: &str) -> Option<()> {
    let bytes = s.as_bytes();
    if !bytes.iter().all(|b| (0x20..=0x7e).contains(b)) {
        return None;
    }
    if !reads_as_other_type(s) && plain_allowed(bytes) {
        out.push_str(s);
    } else {
        out.push('\'');
        for part in s.split_inclusive('\'') {
            out.push_str(part);
            if part.ends_with('\'') {
                out.push('\'');
            }
        }
        out.push('\'');
    }
    Some(())
}

/// A multi-line string as `|` block, where libyaml allows one (else it would be double-quoted).
fn literal(out: &mut String, s: &str, indent: usize) -> Option<()> {
    let bytes = s.as_bytes();
    if !bytes
        .iter()
        .all(|b| (0x20..=0x7e).contains(b) || *b == b'\n')
    {
        return None;
    }
    // libyaml: a space at the end of the string or of a line rules out a block scalar.
    if s.ends_with(' ') || s.contains(" \n") {
        return None;
    }
    out.push('|');
    if s.starts_with([' ', '\n']) {
        out.push('2');
    }
    match s.strip_suffix('\n') {
        None => out.push('-'),
        // `|+` (several final line breaks) also changes how the document ends.
        Some(rest) if rest.is_empty() || rest.ends_with('\n') => return None,
        Some(_) => {}
    }
    out.push('\n');
    for line in s.strip_suffix('\n').unwrap_or(s).split('\n') {
        if !line.is_empty() {
            pad(out, indent);
            out.push_str(line);
        }
        out.push('\n');
    }
    Some(())
}

/// libyaml's `block_plain_allowed` for a non-empty line of printable ASCII.
fn plain_allowed(s: &[u8]) -> bool {
    let Some((&first, _)) = s.split_first() else {
        return false;
    };
    if s.starts_with(b"---") || s.starts_with(b"...") {
        return false;
    }
    if first == b' ' || s.last() == Some(&b' ') {
        return false;
    }
    // Whitespace or the end after position i.
    let blank_after = |i: usize| s.get(i + 1).is_none_or(|&b| b == b' ');
    if b"#,[]{}&*!|>'\"%@`".contains(&first)
        || (matches!(first, b'?' | b':' | b'-') && blank_after(0))
    {
        return false;
    }
    s.windows(2).enumerate().all(|(i, pair)| {
        let (previous, current) = (pair[0], pair[1]);
        !(current == b':' && blank_after(i + 1) || current == b'#' && previous == b' ')
    })
}

/// serde_norway single-quotes strings that would read back as null, a boolean or a number, and
/// digit strings with a leading zero (`visit_untagged_scalar`, `digits_but_not_number`).
fn reads_as_other_type(s: &str) -> bool {
    matches!(
        s,
        "" | "~"
            | "null"
            | "Null"
            | "NULL"
            | "true"
            | "True"
            | "TRUE"
            | "false"
            | "False"
            | "FALSE"
    ) || digits_but_not_number(s)
        || parses_as_int(s)
        || parses_as_float(s)
}

fn digits_but_not_number(s: &str) -> bool {
    let s = s.strip_prefix(['-', '+']).unwrap_or(s);
    s.len() > 1 && s.starts_with('0') && s[1..].bytes().all(|b| b.is_ascii_digit())
}

/// serde_norway's `visit_int` (its u64/i64 attempts accept a subset of the u128/i128 ones).
fn parses_as_int(s: &str) -> bool {
    parses_as_unsigned(s) || parses_as_negative(s)
}

const RADIX_PREFIXES: [(&str, u32); 3] = [("0x", 16), ("0o", 8), ("0b", 2)];

fn parses_as_unsigned(s: &str) -> bool {
    let signless = s.strip_prefix('+').unwrap_or(s);
    for (prefix, radix) in RADIX_PREFIXES {
        if let Some(rest) = signless.strip_prefix(prefix) {
            if rest.starts_with(['+', '-']) {
                return false;
            }
            if u128::from_str_radix(rest, radix).is_ok() {
                return true;
            }
        }
    }
    !signless.starts_with(['+', '-'])
        && !digits_but_not_number(s)
        && signless.parse::<u128>().is_ok()
}

fn parses_as_negative(s: &str) -> bool {
    for (prefix, radix) in RADIX_PREFIXES {
        if let Some(rest) = s.strip_prefix('-').and_then(|r| r.strip_prefix(prefix))
            && i128::from_str_radix(&format!("-{rest}"), radix).is_ok()
        {
            return true;
        }
    }
    !digits_but_not_number(s) && s.parse::<i128>().is_ok()
}

fn parses_as_float(s: &str) -> bool {
    let signless = match s.strip_prefix('+') {
        Some(rest) if rest.starts_with(['+', '-']) => return false,
        Some(rest) => rest,
        None => s,
    };
    matches!(signless, ".inf" | ".Inf" | ".INF")
        || matches!(s, "-.inf" | "-.Inf" | "-.INF" | ".nan" | ".NaN" | ".NAN")
        || signless.parse::<f64>().is_ok_and(f64::is_finite)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn reference(value: &Value) -> String {
        serde_norway::to_string(value).unwrap()
    }

    /// Where the fast path answers, it answers what serde_norway writes.
    fn assert_same(value: &Value) {
        if let Some(fast) = emit(value) {
            assert_eq!(fast, reference(value), "for {value:#}");
        }
    }

    #[test]
    fn objects_are_emitted_like_serde_norway() {
        let value = json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "x", "labels": {"app.kubernetes.io/name": "x"}, "annotations": {}},
            "spec": {
                "replicas": 3,
                "paused": false,
                "selector": null,
                "template": {"spec": {
                    "containers": [{"name": "c", "args": ["a", "--flag=1", "- x", "key: v"], "env": []}],
                    "nested": [["a", "b"], [], {}, [{"k": "v"}]],
                }},
            },
            "data": {
                "flow.yaml": "a: 1\nb:\n  - c\n",
                "no-final-break": "x\ny",
                "leading-space": "  indented\nnext\n",
                "empty-lines": "a\n\n\nb\n",
            },
        });
        assert!(emit(&value).is_some());
        assert_same(&value);
        // Not covered: double-quoted, `|+`; the whole document falls back.
        for s in ["a \nb\n", "a\n\n", "tail "] {
            let value = json!({"k": s});
            assert_eq!(super::super::to_string(&value), reference(&value));
        }
    }

    #[test]
    fn strings_that_read_back_as_other_types_are_quoted() {
        for s in [
            "",
            "~",
            "null",
            "True",
            "FALSE",
            "1",
            "-1",
            "+1",
            "0123",
            "-0123",
            "1.5",
            "1e5",
            ".inf",
            "-.Inf",
            ".nan",
            "0x1F",
            "-0x1F",
            "0o17",
            "0b101",
            "+0x1",
            "0x+1",
            "500m",
            "2Gi",
            "1.2.3",
            "12:30",
            "inf",
            "nan",
            "1_000",
            "yes",
            "on",
            "0",
            "-0",
            "+",
            "-",
            "99999999999999999999999999999999999999999",
        ] {
            assert_same(&json!({ s: s, "list": [s] }));
        }
    }

    #[test]
    fn indicators_and_whitespace_follow_libyaml() {
        for s in [
            "a: b",
            "a:b",
            "a #b",
            "a#b",
            "#a",
            "- a",
            "-a",
            "? a",
            "?a",
            ":a",
            ": a",
            "a:",
            "---",
            "--- a",
            "...",
            "a ",
            " a",
            "it's",
            "'q'",
            "\"d\"",
            "{a}",
            "[a]",
            "a,b",
            "*a",
            "&a",
            "!a",
            "|a",
            ">a",
            "%a",
            "@a",
            "`a",
            "a|b",
            "http://x:80/p?q=1#f",
        ] {
            assert_same(&json!({ s: s, "list": [s] }));
        }
    }

    #[test]
    fn uncovered_shapes_fall_back() {
        assert_eq!(emit(&json!("scalar")), None);
        assert_eq!(emit(&json!({"f": 0.5})), None);
        assert_eq!(emit(&json!({"t": "tab\there"})), None);
        assert_eq!(emit(&json!({"u": "ünïcode"})), None);
        assert_eq!(emit(&json!({"k".repeat(129): 1})), None);
        assert_eq!(emit(&json!({"plus": "a\n\n"})), None);
    }

    fn scalar_text() -> impl Strategy<Value = String> {
        // The characters that decide the style, plus a few outside the fast path.
        proptest::collection::vec(
            prop::sample::select(vec![
                "a", "Z", "0", "1", "9", " ", "  ", "\n", ":", "#", "-", "---", ".", "'", "\"",
                "?", ",", "[", "}", "&", "*", "!", "|", ">", "%", "@", "`", "~", "x", "e", "+",
                "0x", "true", "null", "\t", "é",
            ]),
            0..8,
        )
        .prop_map(|parts| parts.concat())
    }

    fn value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|n| json!(n)),
            any::<u64>().prop_map(|n| json!(n)),
            scalar_text().prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
                proptest::collection::btree_map(scalar_text(), inner, 0..5)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        #[test]
        fn any_value_is_emitted_like_serde_norway(value in value()) {
            assert_same(&value);
            prop_assert_eq!(super::super::to_string(&value), reference(&value));
        }
    }
}
