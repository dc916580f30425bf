//! The one YAML loader of the crate: libyaml's event parser (the one serde_norway drives, so the
//! grammar and the scalar types are the same) with the checks hostile input needs, made while
//! the events stream in:
//!
//! - nesting deeper than [`MAX_DEPTH`] stops at the first level too deep (libyaml's scanner is
//!   quadratic in the nesting of flow collections: reading a whole deep document first took
//!   minutes);
//! - aliases may expand a stream by at most [`ALIAS_BUDGET_BYTES`] (a "billion laughs" file of a
//!   few MiB otherwise expands to gigabytes);
//! - a key given twice in one mapping is refused with its line (no "last one wins");
//! - tags other than YAML's core ones are refused;
//! - [`Scalars::Exact`]: a plain scalar that reads as a number or boolean but whose text is not
//!   what that number or boolean prints as (`1.10`, `0x1F`, `1e3`, `True`) is kept as the text
//!   the author wrote, so string fields never see a rewritten value;
//! - [`Scalars::Rendered`]: rendered templates carry interpolation marks around every value a
//!   template wrote (`render::marks`); each mark must open and close inside one scalar, or the
//!   value changed the structure of the document.

use super::document::{Document, YamlError};
use crate::render::marks;
use serde_json::{Map, Number, Value};
use std::collections::HashMap;
use std::ffi::CStr;
use std::mem::MaybeUninit;
use unsafe_libyaml_norway as unsafe_yaml;

/// Collections nested deeper than this are refused (serde_norway's own recursion limit).
pub const MAX_DEPTH: usize = 128;

/// Aliases may add at most this much (string bytes, plus 8 per node) to one stream.
pub const ALIAS_BUDGET_BYTES: usize = 16 * 1024 * 1024;

/// How scalars are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scalars {
    /// Plain scalars resolve to null, booleans, integers and floats as serde_norway resolves them.
    Typed,
    /// Like `Typed`, but a plain scalar whose text a number or boolean would not print back
    /// exactly stays a string holding that text.
    Exact,
    /// Like `Typed`, after the interpolation marks of rendered templates are checked and removed.
    Rendered,
}

/// Parses every document of `text`; documents that are empty (or `null`) are counted in
/// `Document::index` but not returned. `starts` are the first lines of the documents, as
/// `yaml::document_start_lines` finds them.
pub(super) fn load(
    text: &str,
    scalars: Scalars,
    starts: &[usize],
) -> Result<Vec<Document>, YamlError> {
    let mut parser = Parser::new(text);
    let mut loader = Loader {
        scalars,
        anchors: HashMap::new(),
        alias_budget: ALIAS_BUDGET_BYTES,
        stack: Vec::new(),
    };
    let mut documents = Vec::new();
    let mut position = 0;
    loop {
        let event = parser.next()?;
        match event.kind {
            Kind::StreamEnd => break,
            Kind::StreamStart | Kind::DocumentEnd => {}
            Kind::DocumentStart => {
                loader.anchors.clear();
                let value = loader.document(&mut parser)?;
                position += 1;
                if !value.is_null() {
                    documents.push(Document {
                        index: position,
                        line: starts.get(position - 1).copied().unwrap_or(1),
                        value,
                    });
                }
            }
            _ => return Err(event.error("unexpected event outside a document")),
        }
    }
    Ok(documents)
}

struct Loader {
    scalars: Scalars,
    anchors: HashMap<Vec<u8>, (Value, usize)>,
    alias_budget: usize,
    /// The collections being built, innermost last.
    stack: Vec<Open>,
}

enum Open {
    Sequence {
        items: Vec<Value>,
        anchor: Option<Vec<u8>>,
    },
    Mapping {
        map: Map<String, Value>,
        /// The key read, waiting for its value.
        key: Option<String>,
        anchor: Option<Vec<u8>>,
    },
}

impl Loader {
    /// The root node of the document just started; consumes its DocumentEnd.
    fn document(&mut self, parser: &mut Parser) -> Result<Value, YamlError> {
        let mut root = None;
        loop {
            let event = parser.next()?;
            let completed = match event.kind {
                Kind::DocumentEnd => return Ok(root.unwrap_or(Value::Null)),
                Kind::SequenceStart | Kind::MappingStart => {
                    if self.stack.len() >= MAX_DEPTH {
                        return Err(event.error(&format!(
                            "collections are nested deeper than {MAX_DEPTH} levels"
                        )));
                    }
                    check_name(&event, event.anchor.as_deref())?;
                    check_tag(&event, &event.tag)?;
                    let anchor = event.anchor;
                    self.stack.push(if event.kind == Kind::SequenceStart {
                        Open::Sequence {
                            items: Vec::new(),
                            anchor,
                        }
                    } else {
                        Open::Mapping {
                            map: Map::new(),
                            key: None,
                            anchor,
                        }
                    });
                    continue;
                }
                Kind::SequenceEnd => match self.stack.pop() {
                    Some(Open::Sequence { items, anchor }) => {
                        self.anchor(anchor, Value::Array(items))
                    }
                    _ => return Err(event.error("unbalanced sequence end")),
                },
                Kind::MappingEnd => match self.stack.pop() {
                    Some(Open::Mapping { map, anchor, .. }) => {
                        self.anchor(anchor, Value::Object(map))
                    }
                    _ => return Err(event.error("unbalanced mapping end")),
                },
                Kind::Alias => {
                    let name = event.anchor.clone().unwrap_or_default();
                    let Some((value, size)) = self.anchors.get(&name) else {
                        return Err(event.error(&format!(
                            "unknown anchor `{}`",
                            String::from_utf8_lossy(&name)
                        )));
                    };
                    if *size > self.alias_budget {
                        return Err(event.error(&format!(
                            "aliases expand the YAML beyond {} MiB (alias `*{}`)",
                            ALIAS_BUDGET_BYTES / (1024 * 1024),
                            String::from_utf8_lossy(&name)
                        )));
                    }
                    self.alias_budget -= size;
                    value.clone()
                }
                Kind::Scalar => {
                    check_name(&event, event.anchor.as_deref())?;
                    check_tag(&event, &event.tag)?;
                    let value = self.scalar(&event)?;
                    let anchor = event.anchor.clone();
                    self.anchor(anchor, value)
                }
                Kind::StreamStart | Kind::StreamEnd | Kind::DocumentStart => {
                    return Err(event.error("unexpected event inside a document"));
                }
            };
            match self.stack.last_mut() {
                None => root = Some(completed),
                Some(Open::Sequence { items, .. }) => items.push(completed),
                Some(Open::Mapping { map, key, .. }) => match key.take() {
                    None => {
                        let text = key_text(completed).ok_or_else(|| {
                            event.error("a mapping key must be a string, number or boolean")
                        })?;
                        if map.contains_key(&text) {
                            return Err(event.error(&format!("duplicate key `{text}`")));
                        }
                        *key = Some(text);
                    }
                    Some(text) => {
                        map.insert(text, completed);
                    }
                },
            }
        }
    }

    fn anchor(&mut self, anchor: Option<Vec<u8>>, value: Value) -> Value {
        if let Some(name) = anchor {
            let size = expanded_size(&value);
            self.anchors.insert(name, (value.clone(), size));
        }
        value
    }

    fn scalar(&self, event: &Event) -> Result<Value, YamlError> {
        let raw = std::str::from_utf8(&event.value)
            .map_err(|_| event.error("a scalar is not valid UTF-8"))?;
        let unmarked;
        let text = if self.scalars == Scalars::Rendered && marks::contains_any(raw) {
            unmarked = marks::verify_and_strip(raw).map_err(|problem| {
                let field = self.field_path();
                event.error(&format!(
                    "{problem}{}",
                    if field.is_empty() {
                        String::new()
                    } else {
                        format!(" (at `{field}`)")
                    }
                ))
            })?;
            if self.in_key_position() && unmarked.contains('\n') {
                return Err(event.error("a value written into a key holds a line break"));
            }
            unmarked.as_str()
        } else {
            raw
        };
        // A key is its text, as serde_norway reads keys (`1.10:` stays "1.10").
        if self.in_key_position() && event.tag.is_none() {
            return Ok(Value::String(text.to_string()));
        }
        if let Some(tag) = &event.tag {
            return tagged_scalar(event, tag, text);
        }
        if !event.plain {
            return Ok(Value::String(text.to_string()));
        }
        let value = resolve_plain(text);
        if self.scalars == Scalars::Exact && !value.is_null() && !value.is_string() {
            let printed = match &value {
                Value::Number(n) => n.to_string(),
                other => other.to_string(),
            };
            if printed != text {
                return Ok(Value::String(text.to_string()));
            }
        }
        Ok(value)
    }

    fn in_key_position(&self) -> bool {
        matches!(self.stack.last(), Some(Open::Mapping { key: None, .. }))
    }

    /// Where the builder is, as `a.b[2].c`, for messages.
    fn field_path(&self) -> String {
        let mut path = String::new();
        for open in &self.stack {
            match open {
                Open::Sequence { items, .. } => path.push_str(&format!("[{}]", items.len())),
                Open::Mapping { key: Some(key), .. } => {
                    if !path.is_empty() {
                        path.push('.');
                    }
                    path.push_str(key);
                }
                Open::Mapping { key: None, .. } => {}
            }
        }
        path
    }
}

fn key_text(value: Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Null => Some(String::new()),
        _ => None,
    }
}

/// String bytes plus 8 per node: what an alias of `value` adds to a stream.
fn expanded_size(value: &Value) -> usize {
    8 + match value {
        Value::String(s) => s.len(),
        Value::Array(items) => items.iter().map(expanded_size).sum(),
        Value::Object(map) => map.iter().map(|(k, v)| k.len() + expanded_size(v)).sum(),
        _ => 0,
    }
}

fn check_name(event: &Event, anchor: Option<&[u8]>) -> Result<(), YamlError> {
    if let Some(anchor) = anchor
        && marks::contains_any(&String::from_utf8_lossy(anchor))
    {
        return Err(event.error("a value written by a template became an anchor"));
    }
    Ok(())
}

const CORE_TAGS: [&str; 7] = [
    "tag:yaml.org,2002:str",
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:null",
    "tag:yaml.org,2002:seq",
    "tag:yaml.org,2002:map",
];

fn check_tag(event: &Event, tag: &Option<String>) -> Result<(), YamlError> {
    match tag {
        Some(tag) if !CORE_TAGS.contains(&tag.as_str()) => Err(event.error(&format!(
            "the tag `{tag}` is not supported (only YAML's core tags such as !!str)"
        ))),
        _ => Ok(()),
    }
}

fn tagged_scalar(event: &Event, tag: &str, text: &str) -> Result<Value, YamlError> {
    let wrong = |what: &str| event.error(&format!("`{text}` is not {what}"));
    match tag.strip_prefix("tag:yaml.org,2002:").unwrap_or(tag) {
        "bool" => parse_bool(text)
            .map(Value::Bool)
            .ok_or_else(|| wrong("a boolean")),
        "int" => parse_int(text).ok_or_else(|| wrong("an integer")),
        "float" => parse_f64(text)
            .map(float_value)
            .ok_or_else(|| wrong("a float")),
        "null" => parse_null(text)
            .then_some(Value::Null)
            .ok_or_else(|| wrong("null")),
        "str" => Ok(Value::String(text.to_string())),
        _ => Err(event.error(&format!("the tag `{tag}` does not fit a scalar"))),
    }
}

/// serde_norway's resolution of an untagged plain scalar (`visit_untagged_scalar`), into the
/// `serde_json::Value` it would have produced.
pub fn resolve_plain(text: &str) -> Value {
    // Fast path: most scalars are words.
    match text.as_bytes().first() {
        None => return Value::Null,
        Some(b) if !(b.is_ascii_digit() || b"+-.~nNtTfF".contains(b)) => {
            return Value::String(text.to_string());
        }
        _ => {}
    }
    if parse_null(text) {
        return Value::Null;
    }
    if let Some(b) = parse_bool(text) {
        return Value::Bool(b);
    }
    if let Some(int) = parse_int(text) {
        return int;
    }
    if !digits_but_not_number(text)
        && let Some(float) = parse_f64(text)
    {
        return float_value(float);
    }
    Value::String(text.to_string())
}

fn float_value(float: f64) -> Value {
    Number::from_f64(float).map_or(Value::Null, Value::Number)
}

fn parse_null(text: &str) -> bool {
    matches!(text, "" | "null" | "Null" | "NULL" | "~")
}

fn parse_bool(text: &str) -> Option<bool> {
    match text {
        "true" | "True" | "TRUE" => Some(true),
        "false" | "False" | "FALSE" => Some(false),
        _ => None,
    }
}

/// serde_norway's `visit_int`: u64, then i64 (negative), then u128/i128 (which serde_json
/// cannot hold: those stay floats, as serde_json's visitor makes them).
fn parse_int(text: &str) -> Option<Value> {
    if let Some(n) = parse_unsigned(text, u64::from_str_radix) {
        return Some(Value::from(n));
    }
    if let Some(n) = parse_negative(text, i64::from_str_radix) {
        return Some(Value::from(n));
    }
    if let Some(n) = parse_unsigned(text, u128::from_str_radix) {
        return Some(float_value(n as f64));
    }
    if let Some(n) = parse_negative(text, i128::from_str_radix) {
        return Some(float_value(n as f64));
    }
    None
}

type Radix<T> = fn(&str, u32) -> Result<T, std::num::ParseIntError>;

fn parse_unsigned<T>(text: &str, from_str_radix: Radix<T>) -> Option<T> {
    let unpositive = text.strip_prefix('+').unwrap_or(text);
    for (prefix, radix) in [("0x", 16), ("0o", 8), ("0b", 2)] {
        if let Some(rest) = unpositive.strip_prefix(prefix) {
            if rest.starts_with(['+', '-']) {
                return None;
            }
            if let Ok(n) = from_str_radix(rest, radix) {
                return Some(n);
            }
        }
    }
    if unpositive.starts_with(['+', '-']) || digits_but_not_number(text) {
        return None;
    }
    from_str_radix(unpositive, 10).ok()
}

fn parse_negative<T>(text: &str, from_str_radix: Radix<T>) -> Option<T> {
    for (prefix, radix) in [("-0x", 16), ("-0o", 8), ("-0b", 2)] {
        if let Some(rest) = text.strip_prefix(prefix)
            && let Ok(n) = from_str_radix(&format!("-{rest}"), radix)
        {
            return Some(n);
        }
    }
    if digits_but_not_number(text) {
        return None;
    }
    from_str_radix(text, 10).ok()
}

fn parse_f64(text: &str) -> Option<f64> {
    let unpositive = match text.strip_prefix('+') {
        Some(rest) if rest.starts_with(['+', '-']) => return None,
        Some(rest) => rest,
        None => text,
    };
    if let ".inf" | ".Inf" | ".INF" = unpositive {
        return Some(f64::INFINITY);
    }
    if let "-.inf" | "-.Inf" | "-.INF" = text {
        return Some(f64::NEG_INFINITY);
    }
    if let ".nan" | ".NaN" | ".NAN" = text {
        return Some(f64::NAN);
    }
    unpositive.parse::<f64>().ok().filter(|f| f.is_finite())
}

/// Leading zeros followed by digits are a string in YAML 1.2.
fn digits_but_not_number(text: &str) -> bool {
    let text = text.strip_prefix(['-', '+']).unwrap_or(text);
    text.len() > 1 && text.starts_with('0') && text[1..].bytes().all(|b| b.is_ascii_digit())
}

// ---------------------------------------------------------------------------------------------
// libyaml's event parser, wrapped.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    StreamStart,
    StreamEnd,
    DocumentStart,
    DocumentEnd,
    Alias,
    Scalar,
    SequenceStart,
    SequenceEnd,
    MappingStart,
    MappingEnd,
}

struct Event {
    kind: Kind,
    anchor: Option<Vec<u8>>,
    tag: Option<String>,
    value: Vec<u8>,
    plain: bool,
    /// 0-based line and column where the event starts.
    line: usize,
    column: usize,
}

impl Event {
    fn error(&self, message: &str) -> YamlError {
        YamlError {
            message: message.to_string(),
            location: Some((self.line + 1, self.column + 1)),
        }
    }
}

struct Parser<'t> {
    /// Boxed: libyaml's parser must not move once initialised.
    sys: Box<MaybeUninit<unsafe_yaml::yaml_parser_t>>,
    _input: &'t str,
}

impl<'t> Parser<'t> {
    fn new(input: &'t str) -> Self {
        let mut sys = Box::new(MaybeUninit::<unsafe_yaml::yaml_parser_t>::uninit());
        // SAFETY: libyaml initialises the parser in place; the input outlives the parser
        // (`'t`), and the parser is deleted once in Drop.
        unsafe {
            let parser = sys.as_mut_ptr();
            if unsafe_yaml::yaml_parser_initialize(parser).fail {
                panic!("libyaml could not allocate its parser");
            }
            unsafe_yaml::yaml_parser_set_encoding(parser, unsafe_yaml::YAML_UTF8_ENCODING);
            unsafe_yaml::yaml_parser_set_input_string(parser, input.as_ptr(), input.len() as _);
        }
        Parser { sys, _input: input }
    }

    fn next(&mut self) -> Result<Event, YamlError> {
        let mut event = MaybeUninit::<unsafe_yaml::yaml_event_t>::uninit();
        // SAFETY: the parser was initialised in `new`; an event filled by yaml_parser_parse is
        // read, copied out and deleted before returning.
        unsafe {
            let parser = self.sys.as_mut_ptr();
            let failed_before = (&*parser).error != unsafe_yaml::YAML_NO_ERROR;
            if failed_before || unsafe_yaml::yaml_parser_parse(parser, event.as_mut_ptr()).fail {
                return Err(parse_error(parser));
            }
            let event = event.as_mut_ptr();
            let converted = convert(&*event);
            unsafe_yaml::yaml_event_delete(event);
            Ok(converted)
        }
    }
}

impl Drop for Parser<'_> {
    fn drop(&mut self) {
        // SAFETY: initialised in `new`, deleted once.
        unsafe { unsafe_yaml::yaml_parser_delete(self.sys.as_mut_ptr()) }
    }
}

/// # Safety
/// `parser` has failed: its problem fields are set (or null).
unsafe fn parse_error(parser: *const unsafe_yaml::yaml_parser_t) -> YamlError {
    let text = |ptr: *const std::ffi::c_char| {
        (!ptr.is_null()).then(|| {
            unsafe { CStr::from_ptr(ptr) }
                .to_string_lossy()
                .into_owned()
        })
    };
    let parser = unsafe { &*parser };
    // The problem alone, as serde_norway's messages read once their positions are cut off.
    let (problem, mark) = (text(parser.problem), parser.problem_mark);
    let message = problem.unwrap_or_else(|| "libyaml failed without saying why".into());
    let location = (mark.line != 0 || mark.column != 0)
        .then(|| (mark.line as usize + 1, mark.column as usize + 1));
    YamlError { message, location }
}

/// # Safety
/// `event` was filled by yaml_parser_parse.
unsafe fn convert(event: &unsafe_yaml::yaml_event_t) -> Event {
    let bytes = |ptr: *const u8| {
        (!ptr.is_null()).then(|| unsafe { CStr::from_ptr(ptr.cast()) }.to_bytes().to_vec())
    };
    let mut converted = Event {
        kind: Kind::StreamStart,
        anchor: None,
        tag: None,
        value: Vec::new(),
        plain: false,
        line: event.start_mark.line as usize,
        column: event.start_mark.column as usize,
    };
    let tag = |ptr: *const u8| bytes(ptr).map(|t| String::from_utf8_lossy(&t).into_owned());
    unsafe {
        converted.kind = match event.type_ {
            unsafe_yaml::YAML_STREAM_START_EVENT => Kind::StreamStart,
            unsafe_yaml::YAML_STREAM_END_EVENT => Kind::StreamEnd,
            unsafe_yaml::YAML_DOCUMENT_START_EVENT => Kind::DocumentStart,
            unsafe_yaml::YAML_DOCUMENT_END_EVENT => Kind::DocumentEnd,
            unsafe_yaml::YAML_ALIAS_EVENT => {
                converted.anchor = bytes(event.data.alias.anchor);
                Kind::Alias
            }
            unsafe_yaml::YAML_SCALAR_EVENT => {
                let scalar = &event.data.scalar;
                converted.anchor = bytes(scalar.anchor);
                converted.tag = tag(scalar.tag);
                converted.value =
                    std::slice::from_raw_parts(scalar.value, scalar.length as usize).to_vec();
                converted.plain = scalar.style == unsafe_yaml::YAML_PLAIN_SCALAR_STYLE;
                Kind::Scalar
            }
            unsafe_yaml::YAML_SEQUENCE_START_EVENT => {
                let start = &event.data.sequence_start;
                converted.anchor = bytes(start.anchor);
                converted.tag = tag(start.tag);
                Kind::SequenceStart
            }
            unsafe_yaml::YAML_SEQUENCE_END_EVENT => Kind::SequenceEnd,
            unsafe_yaml::YAML_MAPPING_START_EVENT => {
                let start = &event.data.mapping_start;
                converted.anchor = bytes(start.anchor);
                converted.tag = tag(start.tag);
                Kind::MappingStart
            }
            _ => Kind::MappingEnd,
        };
    }
    converted
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn one(text: &str, scalars: Scalars) -> Result<Value, YamlError> {
        let mut docs = load(text, scalars, &[1])?;
        Ok(docs.pop().map(|d| d.value).unwrap_or(Value::Null))
    }

    #[test]
    fn plain_scalars_resolve_like_serde_norway() {
        for text in [
            "a",
            "1",
            "-1",
            "+1",
            "0x1F",
            "-0x1F",
            "0o17",
            "0b101",
            "01",
            "1.5",
            "1e3",
            ".inf",
            "-.inf",
            ".nan",
            "true",
            "True",
            "FALSE",
            "~",
            "null",
            "",
            "1_000",
            "0x",
            "-",
            "+",
            "18446744073709551616",
            "-9223372036854775809",
            "1.10",
            "2024.10",
            "yes",
            "- a",
        ] {
            let ours = resolve_plain(text);
            let theirs: Option<Value> = serde_norway::from_str(&format!("k: {text}\n"))
                .ok()
                .and_then(|v: Value| v.get("k").cloned());
            if let Some(theirs) = theirs {
                assert_eq!(ours, theirs, "{text:?}");
            }
        }
    }

    #[test]
    fn exact_scalars_keep_the_authors_text() {
        let value = one(
            "version: 1.10\nyear: 2024.10\nsci: 1e3\nhex: 0x1F\nflag: True\nint: 3\nf: 0.75\nb: true\n",
            Scalars::Exact,
        )
        .unwrap();
        assert_eq!(
            value,
            json!({"version": "1.10", "year": "2024.10", "sci": "1e3", "hex": "0x1F", "flag": "True", "int": 3, "f": 0.75, "b": true})
        );
        // Typed reads them as serde_norway does.
        assert_eq!(one("v: 1.10\n", Scalars::Typed).unwrap(), json!({"v": 1.1}));
    }

    #[test]
    fn duplicate_keys_are_refused_with_their_line() {
        let err = one("a: 1\nb:\n  c: 1\n  c: 2\n", Scalars::Typed).unwrap_err();
        assert_eq!(err.message, "duplicate key `c`");
        assert_eq!(err.location.map(|l| l.0), Some(4));
    }

    #[test]
    fn alias_expansion_is_bounded() {
        let big = "x".repeat(1024 * 1024);
        let mut text = format!("a: &big {big}\nl:\n");
        for _ in 0..20 {
            text.push_str("  - *big\n");
        }
        let err = one(&text, Scalars::Typed).unwrap_err();
        assert!(err.message.contains("aliases expand"), "{err}");
        // A few small aliases are fine.
        assert_eq!(
            one("a: &x {k: v}\nb: *x\n", Scalars::Typed).unwrap(),
            json!({"a": {"k": "v"}, "b": {"k": "v"}})
        );
    }

    #[test]
    fn deep_nesting_fails_fast() {
        for text in [
            "{a: ".repeat(100_000),
            "[".repeat(100_000),
            "- ".repeat(100_000),
        ] {
            let started = std::time::Instant::now();
            let err = one(&text, Scalars::Typed).unwrap_err();
            assert!(err.message.contains("nested deeper"), "{err}");
            assert!(started.elapsed() < std::time::Duration::from_millis(500));
        }
    }

    #[test]
    fn keys_are_their_text() {
        assert_eq!(
            one("1.10: a\n0x1F: b\n~: c\ntrue: d\n", Scalars::Typed).unwrap(),
            json!({"1.10": "a", "0x1F": "b", "~": "c", "true": "d"})
        );
    }

    #[test]
    fn custom_tags_are_refused() {
        assert!(one("a: !foo 1\n", Scalars::Typed).is_err());
        assert_eq!(
            one("a: !!str 1.10\n", Scalars::Typed).unwrap(),
            json!({"a": "1.10"})
        );
    }
}
