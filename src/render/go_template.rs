//! Go template syntax, found before Handlebars compiles a template: a chart written for Helm's
//! engine (`{{ .Values.x }}`, `{{- if }}`, `{{ range }}`) gets one clear error instead of a parse
//! error or a missing value somewhere further on.

/// Where the first Go template construct in `source` is: line, column (1-based) and what it is.
pub fn find(source: &str) -> Option<(usize, usize, &'static str)> {
    let bytes = source.as_bytes();
    let mut from = 0;
    while let Some(offset) = source[from..].find("{{") {
        let open = from + offset;
        from = open + 2;
        if let Some(what) = go_action(&source[open + 2..]) {
            return Some(position(source, open, what));
        }
        // ` -}}`: Go's right trim marker (Handlebars trims with `~}}`).
        if let Some(close) = source[open + 2..].find("}}") {
            let inner = &bytes[open + 2..open + 2 + close];
            if inner.len() >= 2
                && inner.ends_with(b"-")
                && inner[inner.len() - 2].is_ascii_whitespace()
            {
                return Some(position(source, open, "`-}}` trim marker"));
            }
        }
    }
    None
}

/// What Go construct the text after `{{` starts with, if any.
fn go_action(after_open: &str) -> Option<&'static str> {
    // `{{- ` is Go's left trim marker; Handlebars has `{{~`.
    if let Some(rest) = after_open.strip_prefix('-') {
        if rest.starts_with(char::is_whitespace) {
            return Some("`{{-` trim marker");
        }
        return None;
    }
    let action = after_open.trim_start();
    let mut chars = action.chars();
    match chars.next() {
        // `.Values`, `.Release.Name`; Handlebars' `.`, `./x`, `../x` are not Go.
        Some('.') if chars.next().is_some_and(|c| c.is_ascii_alphabetic()) => {
            return Some("`.Field` reference");
        }
        Some('$') => return Some("`$variable`"),
        _ => {}
    }
    let word: String = action
        .chars()
        .take_while(|c| c.is_ascii_alphabetic())
        .collect();
    let followed_by = action[word.len()..].chars().next();
    match word.as_str() {
        // Handlebars spells these `#if`, `#each`, `#with`, `/if`, `#*inline`.
        "if" | "range" | "with" | "define" | "template" | "block"
            if followed_by.is_some_and(char::is_whitespace) =>
        {
            Some("block action without `#`")
        }
        "end" if followed_by.is_some_and(|c| c == '}' || c.is_whitespace()) => Some("`{{ end }}`"),
        _ => None,
    }
}

fn position(source: &str, offset: usize, what: &'static str) -> (usize, usize, &'static str) {
    let before = &source[..offset];
    let line = before.matches('\n').count() + 1;
    let column = offset - before.rfind('\n').map_or(0, |i| i + 1) + 1;
    (line, column, what)
}

/// The message for a template in Go syntax.
pub fn message(what: &str) -> String {
    format!(
        "this looks like a Go template ({what}); this engine renders Handlebars templates: \
         `{{{{Values.x}}}}` for `{{{{ .Values.x }}}}`, `{{{{#if x}}}}…{{{{/if}}}}`, \
         `{{{{#each xs}}}}…{{{{/each}}}}`, `{{{{~ … ~}}}}` to trim whitespace; see charts/README.md"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_go_constructs_with_their_place() {
        assert_eq!(
            find("a: 1\nb: {{ .Values.x }}\n").map(|(l, c, _)| (l, c)),
            Some((2, 4))
        );
        for go in [
            "{{.Values.x}}",
            "{{- if .Values.on }}",
            "{{ range .Values.list }}",
            "{{ end }}",
            "{{end}}",
            "{{ $name := 1 }}",
            "{{ include \"x\" . -}}",
            "{{ define \"x\" }}",
            "{{ template \"x\" }}",
            "{{ with .Values.x }}",
        ] {
            assert!(find(go).is_some(), "missed {go}");
        }
    }

    #[test]
    fn handlebars_is_not_mistaken_for_go() {
        for handlebars in [
            "{{Values.x}}",
            "{{#if x}}a{{else if y}}b{{/if}}",
            "{{../name}} {{./name}} {{this}} {{.}}",
            "{{~#each xs~}}{{@index}}{{~/each}}",
            "{{include \"x\" this}} {{!-- comment --}} {{{raw}}}",
            "{{sub 3 -1}} {{add x -2}}",
            "{{#with a}}{{end-date}}{{/with}} {{ifx}} {{endpoint}}",
        ] {
            assert_eq!(find(handlebars), None, "{handlebars}");
        }
    }
}
