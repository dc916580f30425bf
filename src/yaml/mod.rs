//! YAML at the edges only: documents are parsed into `serde_json::Value` trees (sorted keys, what
//! Handlebars consumes) and emitted back. The one YAML library of the crate is `serde_norway`,
//! the maintained fork of the archived `serde_yaml` (docs/design-choices.md).

mod document;
mod emit;
mod load;

pub use document::{Document, YamlError};
pub use load::{ALIAS_BUDGET_BYTES, MAX_DEPTH, Scalars, resolve_plain};
use serde_json::Value;

/// Parses every non-empty document of a multi-document YAML stream. Empty documents (only
/// comments or whitespace, as templates often produce) are skipped but still counted. A large
/// stream (thousands of rendered objects) is cut at document separators and parsed on every core.
pub fn parse_documents(text: &str) -> Result<Vec<Document>, YamlError> {
    parse_documents_as(text, Scalars::Typed)
}

/// [`parse_documents`], reading scalars as `scalars` says.
pub fn parse_documents_as(text: &str, scalars: Scalars) -> Result<Vec<Document>, YamlError> {
    let chunks = split_at_separators(text, crate::parallel::threads());
    let parsed = crate::parallel::map(&chunks, |chunk| parse_chunk(chunk, scalars));
    let mut documents = Vec::new();
    for result in parsed {
        documents.extend(result?);
    }
    Ok(documents)
}

/// Streams smaller than this are parsed on one thread.
const PARALLEL_BYTES: usize = 256 * 1024;

/// A piece of a stream that starts at a separator line (or at the start).
struct Chunk<'t> {
    text: &'t str,
    /// 0-based line of the stream where the chunk starts.
    line_offset: usize,
    /// Documents of the stream before the chunk's first one.
    index_offset: usize,
}

fn split_at_separators(text: &str, parts: usize) -> Vec<Chunk<'_>> {
    if text.len() < PARALLEL_BYTES || parts < 2 {
        return vec![Chunk {
            text,
            line_offset: 0,
            index_offset: 0,
        }];
    }
    let line_starts: Vec<usize> = std::iter::once(0)
        .chain(text.match_indices('\n').map(|(i, _)| i + 1))
        .collect();
    let mut chunks = Vec::new();
    let (mut start, mut start_line, mut start_index) = (0, 0, 0);
    for (position, &first_line) in document_start_lines(text).iter().enumerate() {
        // Documents that start on line n + 2 were opened by the separator on (0-based) line n.
        let Some(separator) = first_line.checked_sub(2) else {
            continue;
        };
        let offset = line_starts[separator];
        let target = text.len() * (chunks.len() + 1) / parts;
        if offset >= target && offset > start && chunks.len() + 1 < parts {
            chunks.push(Chunk {
                text: &text[start..offset],
                line_offset: start_line,
                index_offset: start_index,
            });
            (start, start_line, start_index) = (offset, separator, position);
        }
    }
    chunks.push(Chunk {
        text: &text[start..],
        line_offset: start_line,
        index_offset: start_index,
    });
    chunks
}

fn parse_chunk(chunk: &Chunk, scalars: Scalars) -> Result<Vec<Document>, YamlError> {
    let starts = document_start_lines(chunk.text);
    let mut documents = load::load(chunk.text, scalars, &starts).map_err(|mut err| {
        err.location = err
            .location
            .map(|(line, column)| (line + chunk.line_offset, column));
        err
    })?;
    for document in &mut documents {
        document.index += chunk.index_offset;
        document.line += chunk.line_offset;
    }
    Ok(documents)
}

/// Parses a single-document YAML text (a values file, a Chart.yaml). Empty text is `null`.
pub fn parse_one(text: &str) -> Result<Value, YamlError> {
    let mut docs = parse_documents(text)?;
    match docs.len() {
        0 => Ok(Value::Null),
        1 => Ok(docs.remove(0).value),
        n => Err(YamlError {
            message: format!("expected one YAML document, found {n}"),
            location: None,
        }),
    }
}

/// Emits a value as a YAML document (no leading `---`, trailing newline), exactly as
/// serde_norway does; the common shapes take a faster path (`emit`).
pub fn to_string(value: &Value) -> String {
    let mut out = String::new();
    append(&mut out, value);
    out
}

/// [`to_string`], appended to `out`.
pub fn append(out: &mut String, value: &Value) {
    if !emit::emit_into(out, value) {
        out.push_str(
            &serde_norway::to_string(value).expect("a JSON value always serialises to YAML"),
        );
    }
}

/// How many documents the parser finds in `text` (empty ones included).
pub(crate) fn document_count(text: &str) -> usize {
    document_start_lines(text).len()
}

/// 1-based first line of each document, as the parser counts documents: a `---` line opens a
/// document, and closes the one before it unless that held only comments and blank lines at the
/// start of the stream (which is not a document at all).
fn document_start_lines(text: &str) -> Vec<usize> {
    let mut starts = Vec::new();
    let (mut current, mut explicit, mut content) = (1, false, false);
    for (number, line) in text.lines().enumerate() {
        if is_separator(line) {
            if explicit || content {
                starts.push(current);
            }
            (current, explicit, content) = (number + 2, true, false);
        } else if !content {
            let trimmed = line.trim_start();
            content = !trimmed.is_empty() && !trimmed.starts_with('#');
        }
    }
    if explicit || content {
        starts.push(current);
    }
    starts
}

pub(crate) fn is_separator(line: &str) -> bool {
    line.strip_prefix("---")
        .is_some_and(|rest| rest.is_empty() || rest.starts_with([' ', '\t', '#']))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_multi_document_stream_with_lines() {
        let docs = parse_documents("a: 1\n---\n# only a comment\n---\nb: [x]\n").unwrap();
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[0].value, json!({"a": 1}));
        assert_eq!((docs[0].index, docs[0].line), (1, 1));
        assert_eq!(docs[1].value, json!({"b": ["x"]}));
        assert_eq!((docs[1].index, docs[1].line), (3, 5));
    }

    #[test]
    fn leading_comments_are_not_a_document() {
        let docs = parse_documents("# Source: x\n---\na: 1\n---\nb: 2\n").unwrap();
        assert_eq!(
            docs.iter().map(|d| (d.index, d.line)).collect::<Vec<_>>(),
            [(1, 3), (2, 5)]
        );
    }

    #[test]
    fn leading_separator_is_not_an_extra_document() {
        let docs = parse_documents("---\na: 1\n").unwrap();
        assert_eq!(docs.len(), 1);
        assert_eq!(docs[0].line, 2);
    }

    #[test]
    fn large_streams_parse_in_parallel_with_the_same_result() {
        let mut text = String::from("# leading comment\n");
        for i in 0..6000 {
            text.push_str(&format!("---\n# Source: t\nkind: ConfigMap\nmetadata: {{name: cm-{i}}}\ndata: {{k: '{}'}}\n", "v".repeat(40)));
            if i % 7 == 0 {
                text.push_str("---\n# only a comment\n");
            }
        }
        assert!(text.len() > PARALLEL_BYTES);
        let parallel = parse_documents(&text).unwrap();
        let serial = parse_chunk(
            &Chunk {
                text: &text,
                line_offset: 0,
                index_offset: 0,
            },
            Scalars::Typed,
        )
        .unwrap();
        assert_eq!(parallel.len(), serial.len());
        // Compared one by one: a failing assert_eq on 6,000 documents prints megabytes.
        if let Some((p, s)) = parallel.iter().zip(&serial).find(|(p, s)| p != s) {
            panic!(
                "first difference: parallel {:?} vs serial {:?}",
                (p.index, p.line),
                (s.index, s.line)
            );
        }
        assert_eq!(split_at_separators(&text, 4).len(), 4);
    }

    #[test]
    fn errors_in_later_chunks_report_stream_lines() {
        let mut text = String::new();
        for i in 0..8000 {
            text.push_str(&format!(
                "---\nkind: ConfigMap\nmetadata: {{name: cm-{i}}}\n"
            ));
        }
        text.push_str("---\nbad: [unclosed\n");
        let broken_line = text.lines().count();
        let err = parse_documents(&text).unwrap_err();
        assert_eq!(
            err.location.map(|(line, _)| line),
            Some(broken_line + 1),
            "{err}"
        );
    }

    #[test]
    fn syntax_error_has_location() {
        let err = parse_documents("a: 1\nb: [unclosed\n").unwrap_err();
        assert!(err.location.is_some(), "{err:?}");
        assert!(err.to_string().starts_with("line "), "{err}");
    }

    #[test]
    fn emits_sorted_keys() {
        assert_eq!(to_string(&json!({"b": 1, "a": "2"})), "a: '2'\nb: 1\n");
    }
}
