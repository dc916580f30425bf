//! Interpolation marks: how rendering proves that no value changed the structure of a rendered
//! object (docs/security.md, "Structure injection").
//!
//! Every line of text a template writes from a value (`{{x}}`, `{{printf ...}}`, a helper's
//! result) is enclosed in [`OPEN`]…[`CLOSE`] by the registry's escape function. The rendered
//! YAML is then parsed with the marks in it (`yaml::Scalars::Rendered`): a mark may only open
//! and close inside one scalar (a key or a value). A value holding `: `, ` #`, `- `, a quote that
//! ends the scalar, a line break, `---` or flow punctuation either stays inside its scalar — and
//! is then just text — or splits the marks across scalars, and is refused with the template's
//! line and the field. Every line is marked on its own, so a line break cannot smuggle a whole
//! line past the check through a comment. The marks are removed from each scalar before its
//! type is resolved, so `replicas: {{n}}` is still a number.
//!
//! Helpers that encode (`quote`, `squote`, `toYaml`, `toJson`, `include`, `indent`, `nindent`)
//! return text prefixed with [`TRUSTED`]: the escape function writes it as it is (quote and
//! squote put the marks inside their quotes; include's partial marked its own values; indent
//! marks each line of a raw value it indents). Helpers that compute text from their arguments
//! remove the marks from them first, so `sha256sum (include ...)` hashes the text without marks.
//!
//! The marks are Unicode noncharacters, which no input may hold: the values and the templates
//! are checked before rendering ([`find_in_value`], [`find_in_text`]).

use serde_json::Value;
use std::borrow::Cow;

pub const OPEN: char = '\u{FDD0}';
pub const CLOSE: char = '\u{FDD1}';
pub const TRUSTED: char = '\u{FDD2}';
const RESERVED: [char; 3] = [OPEN, CLOSE, TRUSTED];

/// libyaml's line breaks (YAML 1.1 counts NEL, LS and PS as well).
const BREAKS: [char; 5] = ['\n', '\r', '\u{85}', '\u{2028}', '\u{2029}'];

/// Whether `text` holds any mark. The three marks share their first two UTF-8 bytes.
pub fn contains_any(text: &str) -> bool {
    let bytes = text.as_bytes();
    let mut from = 0;
    while let Some(i) = bytes[from..].iter().position(|&b| b == 0xEF) {
        let at = from + i;
        if bytes.get(at + 1) == Some(&0xB7) && matches!(bytes.get(at + 2), Some(0x90..=0x92)) {
            return true;
        }
        from = at + 1;
    }
    false
}

/// The registry's escape function: a helper's encoded text as it is, any other text marked.
pub fn escape(text: &str) -> String {
    match text.strip_prefix(TRUSTED) {
        Some(trusted) => trusted.to_string(),
        None => mark_lines(text),
    }
}

/// `text` with every line enclosed in marks.
pub fn mark_lines(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 6);
    out.push(OPEN);
    for c in text.chars() {
        if BREAKS.contains(&c) {
            out.push(CLOSE);
            out.push(c);
            out.push(OPEN);
        } else {
            out.push(c);
        }
    }
    out.push(CLOSE);
    out
}

/// Text a helper encoded itself.
pub fn trusted(text: String) -> String {
    let mut out = String::with_capacity(text.len() + 3);
    out.push(TRUSTED);
    out.push_str(&text);
    out
}

/// A helper's argument without marks (its own text, as a helper computes with it).
pub fn strip(text: &str) -> Cow<'_, str> {
    if contains_any(text) {
        Cow::Owned(text.chars().filter(|c| !RESERVED.contains(c)).collect())
    } else {
        Cow::Borrowed(text)
    }
}

/// How a refusal for a value that changed the structure starts.
pub const STRUCTURE_CHANGED: &str = "a value written by the template changes the structure";

const SPLIT_MESSAGE: &str = "a value written by the template changes the structure of the YAML \
    (it holds a line break, `: `, ` #`, a quote or other YAML syntax that ends its scalar; \
    write it with `quote` or `toYaml`)";

/// A parsed scalar's text without its marks, if every mark in it opens and closes inside it.
pub fn verify_and_strip(scalar: &str) -> Result<String, &'static str> {
    let mut out = String::with_capacity(scalar.len());
    let mut open = false;
    for c in scalar.chars() {
        match c {
            OPEN if !open => open = true,
            CLOSE if open => open = false,
            OPEN | CLOSE => return Err(SPLIT_MESSAGE),
            TRUSTED => return Err("encoded helper output ended up inside a value"),
            c => out.push(c),
        }
    }
    if open {
        return Err(SPLIT_MESSAGE);
    }
    Ok(out)
}

/// The path of the first string (or key) in `value` that holds a mark character.
pub fn find_in_value(value: &Value) -> Option<String> {
    match value {
        Value::String(s) if contains_any(s) => Some(String::new()),
        Value::Array(items) => items.iter().enumerate().find_map(|(i, item)| {
            find_in_value(item).map(|rest| format!("[{i}]{}", dotted(&rest)))
        }),
        Value::Object(map) => map.iter().find_map(|(key, item)| {
            if contains_any(key) {
                return Some(key.clone());
            }
            find_in_value(item).map(|rest| {
                if rest.is_empty() {
                    key.clone()
                } else {
                    format!("{key}{}", dotted(&rest))
                }
            })
        }),
        _ => None,
    }
}

fn dotted(rest: &str) -> String {
    if rest.is_empty() || rest.starts_with('[') {
        rest.to_string()
    } else {
        format!(".{rest}")
    }
}

/// The 1-based line of the first mark character (or triple-stash, which would bypass the
/// escape function) in a template's source.
pub fn find_in_text(source: &str) -> Option<(usize, &'static str)> {
    for (number, line) in source.lines().enumerate() {
        if contains_any(line) {
            return Some((
                number + 1,
                "holds a Unicode noncharacter (U+FDD0..U+FDD2), reserved for rendering",
            ));
        }
        if line.contains("{{{") || line.contains("{{~{") || line.contains("{{&") {
            return Some((
                number + 1,
                "uses {{{ }}} (or {{& }}), which writes a value unchecked; use {{ }} (values are checked) or a helper such as quote or toYaml",
            ));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_line_of_a_value_is_marked() {
        assert_eq!(mark_lines("a\nb"), "\u{FDD0}a\u{FDD1}\n\u{FDD0}b\u{FDD1}");
        assert_eq!(escape(&trusted("x: 1".into())), "x: 1");
        assert!(contains_any(&mark_lines("")));
        assert!(!contains_any("plain ïë text \u{FDCF}"));
    }

    #[test]
    fn balanced_marks_are_removed_and_split_ones_refused() {
        assert_eq!(verify_and_strip(&mark_lines("a: b")).unwrap(), "a: b");
        assert!(verify_and_strip("\u{FDD0}a").is_err());
        assert!(verify_and_strip("a\u{FDD1}").is_err());
        assert!(verify_and_strip("\u{FDD0}\u{FDD0}\u{FDD1}").is_err());
    }

    #[test]
    fn marks_in_inputs_are_found() {
        let value = json!({"a": [{"b": "ok"}, {"c": "x\u{FDD1}"}]});
        assert_eq!(find_in_value(&value).as_deref(), Some("a[1].c"));
        assert_eq!(find_in_value(&json!({"k": "v"})), None);
        assert_eq!(find_in_text("a\n{{{x}}}\n").map(|f| f.0), Some(2));
    }
}
