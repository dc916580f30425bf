//! The template helpers a Helm chart author expects (charts/README.md), under Helm's names and argument
//! order. Handlebars has no pipes, so `{{ toYaml .x | nindent 4 }}` becomes
//! `{{nindent 4 (toYaml x)}}`. `and`, `or`, `if`, `unless`, `each` and `with` are Handlebars' own
//! built-ins; `eq`, `ne`, `not`, `len` and `lookup` are replaced by versions that read a missing
//! value as null instead of failing in strict mode (`lookup`: that refuses Helm's cluster query).

use super::marks;
use base64::Engine;
use handlebars::{
    Context, Handlebars, Helper, HelperDef, PathAndJson, RenderContext, RenderError,
    RenderErrorReason, Renderable, ScopedJson, StringOutput,
};
use serde_json::{Map, Value};

/// A helper as the registry holds it.
pub type BoxedHelper = Box<dyn HelperDef + Send + Sync>;

/// Every helper this engine adds to Handlebars, by name: the one list that registers them
/// ([`register`]) and that `lint` suggests names from ([`names`]).
pub fn table() -> Vec<(&'static str, BoxedHelper)> {
    use ValueHelper as H;
    vec![
        value("toYaml", H::strict(1, 1, to_yaml)),
        value("toJson", H::strict(1, 1, to_json)),
        value(
            "indent",
            H::raw_args(2, 2, |a| Ok(indent(count(a[0])?, a[1], "")?.into())),
        ),
        value(
            "nindent",
            H::raw_args(2, 2, |a| Ok(indent(count(a[0])?, a[1], "\n")?.into())),
        ),
        value(
            "quote",
            H::strict(1, usize::MAX, |a| Ok(join_mapped(a, double_quote))),
        ),
        value(
            "squote",
            H::strict(1, usize::MAX, |a| Ok(join_mapped(a, single_quote))),
        ),
        value("default", H::lenient(2, 2, default).with_raw_args()),
        value("required", H::lenient(2, 2, required).with_raw_args()),
        value("trunc", H::strict(2, 2, trunc)),
        value("trimSuffix", H::strict(2, 2, trim_suffix)),
        // Sprig's `base` for the `/`-separated paths of URIs: the last element.
        value(
            "base",
            H::strict(1, 1, |a| {
                let path = text(a[0]);
                let path = path.trim_end_matches('/');
                Ok(path.rsplit('/').next().unwrap_or("").into())
            }),
        ),
        value(
            "lower",
            H::strict(1, 1, |a| Ok(text(a[0]).to_lowercase().into())),
        ),
        value(
            "upper",
            H::strict(1, 1, |a| Ok(text(a[0]).to_uppercase().into())),
        ),
        value(
            "replace",
            H::strict(3, 3, |a| {
                Ok(text(a[2]).replace(&text(a[0]), &text(a[1])).into())
            }),
        ),
        value(
            "b64enc",
            H::strict(1, 1, |a| {
                Ok(base64::engine::general_purpose::STANDARD
                    .encode(text(a[0]))
                    .into())
            }),
        ),
        value(
            "sha256sum",
            H::strict(1, 1, |a| {
                Ok(crate::digest::sha256_hex(text(a[0]).as_bytes()).into())
            }),
        ),
        value("printf", H::strict(1, usize::MAX, printf)),
        value("dict", H::raw_args(0, usize::MAX, dict)),
        value(
            "list",
            H::raw_args(0, usize::MAX, |a| {
                Ok(Value::Array(a.iter().copied().cloned().collect()))
            }),
        ),
        value("contains", H::lenient(2, 2, contains)),
        value(
            "hasKey",
            H::lenient(2, 2, |a| Ok(a[0].get(text(a[1])).is_some().into())),
        ),
        value(
            "add",
            H::strict(2, usize::MAX, |a| arithmetic(a, i64::checked_add)),
        ),
        value("sub", H::strict(2, 2, |a| arithmetic(a, i64::checked_sub))),
        value(
            "mul",
            H::strict(2, usize::MAX, |a| arithmetic(a, i64::checked_mul)),
        ),
        value(
            "max",
            H::strict(1, usize::MAX, |a| arithmetic(a, |x, y| Some(x.max(y)))),
        ),
        value(
            "min",
            H::strict(1, usize::MAX, |a| arithmetic(a, |x, y| Some(x.min(y)))),
        ),
        // Comparisons treat a missing value as null, so `(eq x "windows")` needs no `default`.
        value("eq", H::lenient(2, 2, |a| Ok((a[0] == a[1]).into()))),
        value("ne", H::lenient(2, 2, |a| Ok((a[0] != a[1]).into()))),
        value("not", H::lenient(1, 1, |a| Ok(is_empty(a[0]).into()))),
        value("len", H::lenient(1, 1, length)),
        ("include", Box::new(Include) as BoxedHelper),
        ("tpl", Box::new(super::tpl::Tpl) as BoxedHelper),
        ("lookup", Box::new(super::tpl::Lookup) as BoxedHelper),
    ]
}

/// Handlebars' own built-ins (`Handlebars::new` registers them) that [`table`] does not replace.
pub const HANDLEBARS_BUILT_INS: [&str; 12] = [
    "if", "unless", "each", "with", "and", "or", "gt", "gte", "lt", "lte", "raw", "log",
];

/// Registers every helper of [`table`].
pub fn register(registry: &mut Handlebars<'_>) {
    for (name, helper) in table() {
        registry.register_helper(name, helper);
    }
}

/// The names of every helper a template can call: [`table`]'s and Handlebars' built-ins.
pub fn names() -> impl Iterator<Item = &'static str> {
    table()
        .into_iter()
        .map(|(name, _)| name)
        .chain(HANDLEBARS_BUILT_INS)
}

/// A value helper named `name` (the name is part of its error messages).
fn value(name: &'static str, helper: ValueHelper) -> (&'static str, BoxedHelper) {
    (name, Box::new(ValueHelper { name, ..helper }))
}

/// Helpers borrow their arguments: templates pass large trees (a whole values block) around,
/// and copying them on every call made rendering quadratic.
type HelperFn = fn(&[&Value]) -> Result<Value, String>;

/// A helper that computes a value, so it works both as `{{h x}}` and as a subexpression `(h x)`.
struct ValueHelper {
    name: &'static str,
    min: usize,
    max: usize,
    /// Lenient helpers (`default`, `required`) receive missing values as null instead of failing.
    lenient: bool,
    /// Helpers that pass their arguments on (`default`, `dict`) or encode them themselves
    /// (`indent`) see them with their interpolation marks; the others see the plain text.
    raw_args: bool,
    f: HelperFn,
}

impl ValueHelper {
    fn strict(min: usize, max: usize, f: HelperFn) -> Self {
        ValueHelper {
            name: "",
            min,
            max,
            lenient: false,
            raw_args: false,
            f,
        }
    }

    fn lenient(min: usize, max: usize, f: HelperFn) -> Self {
        ValueHelper {
            lenient: true,
            ..Self::strict(min, max, f)
        }
    }

    fn raw_args(min: usize, max: usize, f: HelperFn) -> Self {
        Self::strict(min, max, f).with_raw_args()
    }

    fn with_raw_args(self) -> Self {
        ValueHelper {
            raw_args: true,
            ..self
        }
    }
}

pub(super) fn missing(param: &PathAndJson<'_>) -> RenderError {
    RenderErrorReason::MissingVariable(param.relative_path().cloned()).into()
}

/// The context a partial (`include`) or a string template (`tpl`) renders with, in `inner`: its
/// argument when given (by reference into the values when it is a path, so nothing is copied),
/// else the caller's own context.
pub(super) fn scope_like_a_partial<'rc>(
    inner: &mut RenderContext<'_, 'rc>,
    argument: Option<&PathAndJson<'rc>>,
    caller: &RenderContext<'_, 'rc>,
) -> Result<(), RenderError> {
    let block = inner.block_mut().expect("a new render context has a block");
    match argument {
        Some(param) if param.is_value_missing() => return Err(missing(param)),
        Some(param) => match param.context_path() {
            Some(path) => block.base_path_mut().clone_from(path),
            None => block.set_base_value(param.value().clone()),
        },
        None => {
            if let Some(caller) = caller.block() {
                match caller.base_value() {
                    Some(value) => block.set_base_value(value.clone()),
                    None => block.base_path_mut().clone_from(caller.base_path()),
                }
            }
        }
    }
    Ok(())
}

fn fail(helper: &str, message: impl std::fmt::Display) -> RenderError {
    RenderErrorReason::Other(format!("{helper}: {message}")).into()
}

impl HelperDef for ValueHelper {
    fn call_inner<'reg: 'rc, 'rc>(
        &self,
        h: &Helper<'rc>,
        _: &'reg Handlebars<'reg>,
        _: &'rc Context,
        _: &mut RenderContext<'reg, 'rc>,
    ) -> Result<ScopedJson<'rc>, RenderError> {
        let params = h.params();
        if params.len() < self.min || params.len() > self.max {
            let expected = if self.min == self.max {
                self.min.to_string()
            } else {
                format!("at least {}", self.min)
            };
            return Err(fail(
                self.name,
                format!("expects {expected} argument(s), got {}", params.len()),
            ));
        }
        // Text helpers compute with their arguments' own text, without interpolation marks.
        let mut unmarked: Vec<Option<Value>> = Vec::new();
        if !self.raw_args {
            for param in params {
                unmarked.push(match param.value() {
                    Value::String(s) if marks::contains_any(s) => {
                        Some(Value::String(marks::strip(s).into_owned()))
                    }
                    _ => None,
                });
            }
        }
        let mut args: Vec<&Value> = Vec::with_capacity(params.len());
        for (i, param) in params.iter().enumerate() {
            if param.is_value_missing() {
                if !self.lenient {
                    return Err(missing(param));
                }
                args.push(&Value::Null);
            } else {
                match unmarked.get(i) {
                    Some(Some(value)) => args.push(value),
                    _ => args.push(param.value()),
                }
            }
        }
        (self.f)(&args)
            .map(ScopedJson::Derived)
            .map_err(|message| fail(self.name, message))
    }
}

/// `include "name" arg`: renders a named partial to a string, so its output can be indented.
///
/// The partial runs in the caller's template context: `@root` is still the template's root
/// (`@root.Values`, `@root.Release`, `@root.Chart`, `@root.Job`) and `this` is `arg` (the
/// caller's `this` without one). An `arg` that is a path into the context (`this`, `flow`,
/// `Job.scoringFlows`) is passed by reference, so a partial call copies nothing; only a computed
/// argument (`(dict ...)`) is copied once. Rendering a partial as its own root context instead
/// copied the whole values tree on every call and made large jobs slow.
struct Include;

impl HelperDef for Include {
    fn call_inner<'reg: 'rc, 'rc>(
        &self,
        h: &Helper<'rc>,
        registry: &'reg Handlebars<'reg>,
        ctx: &'rc Context,
        rc: &mut RenderContext<'reg, 'rc>,
    ) -> Result<ScopedJson<'rc>, RenderError> {
        let name = h
            .param(0)
            .ok_or_else(|| fail("include", "expects a partial name"))?;
        let Some(name) = name.value().as_str() else {
            return Err(fail(
                "include",
                "the first argument must be a partial name in quotes",
            ));
        };
        let Some(template) = registry.get_template(name) else {
            return Err(fail(
                "include",
                format!(
                    "no partial named `{name}` (define it with {{{{#*inline \"{name}\"}}}} in a templates/_*.tpl file)"
                ),
            ));
        };
        let mut partial = RenderContext::new(template.name.as_ref());
        scope_like_a_partial(&mut partial, h.param(1), rc)?;
        let _depth = IncludeDepth::enter(name)?;
        let mut out = StringOutput::new();
        template.render(registry, ctx, &mut partial, &mut out)?;
        let rendered = out
            .into_string()
            .map_err(|err| fail("include", format!("output is not UTF-8: {err}")))?;
        // The partial's text is the chart's; the values in it carry their own marks.
        Ok(ScopedJson::Derived(Value::String(marks::trusted(rendered))))
    }
}

/// Partials may include partials this deep; a recursive `include` stops here instead of
/// overflowing the stack.
pub const MAX_INCLUDE_DEPTH: usize = 64;

thread_local! {
    static INCLUDE_DEPTH: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// One level of `include` on this thread, left when dropped.
struct IncludeDepth;

impl IncludeDepth {
    fn enter(name: &str) -> Result<Self, RenderError> {
        let depth = INCLUDE_DEPTH.with(|d| d.get());
        if depth >= MAX_INCLUDE_DEPTH {
            return Err(fail(
                "include",
                format!(
                    "partials nest deeper than {MAX_INCLUDE_DEPTH} levels at `{name}` (does it include itself?)"
                ),
            ));
        }
        INCLUDE_DEPTH.with(|d| d.set(depth + 1));
        Ok(IncludeDepth)
    }
}

impl Drop for IncludeDepth {
    fn drop(&mut self) {
        INCLUDE_DEPTH.with(|d| d.set(d.get().saturating_sub(1)));
    }
}

/// The text of a value as a template prints it.
pub fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn count(value: &Value) -> Result<usize, String> {
    value
        .as_u64()
        .map(|n| n as usize)
        .ok_or_else(|| format!("expected a non-negative number, got {value}"))
}

/// Output of `indent` beyond this is refused (a huge count would otherwise abort on allocation).
pub const MAX_INDENT: usize = 1024;

/// `prefix` and `value`'s text with every line indented; encoded output, so a value's text
/// (rather than a helper's or partial's) gets its lines marked first.
fn indent(spaces: usize, value: &Value, prefix: &str) -> Result<String, String> {
    if spaces > MAX_INDENT {
        return Err(format!(
            "an indent of {spaces} is more than the {MAX_INDENT} allowed"
        ));
    }
    let raw = text(value);
    let body = match raw.strip_prefix(marks::TRUSTED) {
        Some(trusted) => trusted.to_string(),
        None => marks::mark_lines(&raw),
    };
    let pad = " ".repeat(spaces);
    Ok(marks::trusted(format!(
        "{prefix}{pad}{}",
        body.replace('\n', &format!("\n{pad}"))
    )))
}

fn join_mapped(args: &[&Value], f: impl Fn(&str) -> String) -> Value {
    Value::String(marks::trusted(
        args.iter()
            .map(|a| f(&text(a)))
            .collect::<Vec<_>>()
            .join(" "),
    ))
}

/// JSON text; the line separators JSON leaves as they are (and YAML reads as line breaks)
/// are escaped.
fn to_json(args: &[&Value]) -> Result<Value, String> {
    let json = serde_json::to_string(args[0]).unwrap_or_default();
    let json = if json.contains(['\u{85}', '\u{2028}', '\u{2029}']) {
        json.replace('\u{85}', "\\u0085")
            .replace('\u{2028}', "\\u2028")
            .replace('\u{2029}', "\\u2029")
    } else {
        json
    };
    Ok(marks::trusted(json).into())
}

/// A YAML double-quoted scalar with the text marked inside the quotes.
fn double_quote(text: &str) -> String {
    let json = serde_json::to_string(text).unwrap_or_default();
    let inner = &json[1..json.len() - 1];
    let inner = inner
        .replace('\u{85}', "\\u0085")
        .replace('\u{2028}', "\\u2028")
        .replace('\u{2029}', "\\u2029");
    format!("\"{}{inner}{}\"", marks::OPEN, marks::CLOSE)
}

/// YAML single quoting (a quote inside is doubled), the text marked inside the quotes. Single
/// quotes fold line breaks, so text with one is double-quoted instead.
fn single_quote(text: &str) -> String {
    if text.contains(['\n', '\r', '\u{85}', '\u{2028}', '\u{2029}'])
        || text.chars().any(|c| c.is_control() && c != '\t')
    {
        return double_quote(text);
    }
    format!(
        "'{}{}{}'",
        marks::OPEN,
        text.replace('\'', "''"),
        marks::CLOSE
    )
}

fn trim_suffix(args: &[&Value]) -> Result<Value, String> {
    let (suffix, value) = (text(args[0]), text(args[1]));
    Ok(value
        .strip_suffix(suffix.as_str())
        .unwrap_or(&value)
        .to_string()
        .into())
}

/// `contains list item` or `contains string substring`; false for anything missing.
fn contains(args: &[&Value]) -> Result<Value, String> {
    Ok(match args[0] {
        Value::Array(items) => items.contains(args[1]),
        Value::String(haystack) => haystack.contains(&text(args[1])),
        Value::Object(map) => map.contains_key(&text(args[1])),
        _ => false,
    }
    .into())
}

fn length(args: &[&Value]) -> Result<Value, String> {
    Ok(match args[0] {
        Value::Array(items) => items.len(),
        Value::Object(map) => map.len(),
        Value::String(text) => text.chars().count(),
        _ => 0,
    }
    .into())
}

/// Integer arithmetic folded over the arguments (`add 1 2 3`, `max a b`).
fn arithmetic(args: &[&Value], op: fn(i64, i64) -> Option<i64>) -> Result<Value, String> {
    let number = |v: &Value| {
        v.as_i64()
            .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
            .ok_or_else(|| format!("`{v}` is not an integer"))
    };
    let mut result = number(args[0])?;
    for arg in &args[1..] {
        result = op(result, number(arg)?).ok_or("integer overflow")?;
    }
    Ok(result.into())
}

/// A mapping or list as block YAML (its structure is the value's, by the template's choice);
/// a string as one double-quoted scalar, so it stays one scalar wherever it lands.
fn to_yaml(args: &[&Value]) -> Result<Value, String> {
    let yaml = match args[0] {
        Value::Null => String::new(),
        Value::String(s) => double_quote(s),
        value => crate::yaml::to_string(value),
    };
    Ok(Value::String(marks::trusted(
        yaml.trim_end_matches('\n').to_string(),
    )))
}

/// Helm's notion of empty: null, false, 0, "", [] and {}.
pub fn is_empty(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
    }
}

fn default(args: &[&Value]) -> Result<Value, String> {
    Ok(if is_empty(args[1]) {
        args[0].clone()
    } else {
        args[1].clone()
    })
}

fn required(args: &[&Value]) -> Result<Value, String> {
    match args[1] {
        Value::Null => Err(text(args[0])),
        Value::String(s) if s.is_empty() => Err(text(args[0])),
        value => Ok(Value::clone(value)),
    }
}

fn trunc(args: &[&Value]) -> Result<Value, String> {
    let n = args[0]
        .as_i64()
        .ok_or_else(|| format!("expected a number, got {}", args[0]))?;
    let chars: Vec<char> = text(args[1]).chars().collect();
    let len = chars.len() as i64;
    let kept: String = if n >= 0 {
        chars[..n.min(len) as usize].iter().collect()
    } else {
        chars[(len + n).max(0) as usize..].iter().collect()
    };
    Ok(Value::String(kept))
}

fn dict(args: &[&Value]) -> Result<Value, String> {
    if !args.len().is_multiple_of(2) {
        return Err("expects key/value pairs".to_string());
    }
    let mut map = Map::new();
    for pair in args.chunks(2) {
        map.insert(text(pair[0]), pair[1].clone());
    }
    Ok(Value::Object(map))
}

/// The common Go verbs: `%s`, `%d`, `%v`, `%q`, `%%`.
fn printf(args: &[&Value]) -> Result<Value, String> {
    let format = text(args[0]);
    let mut rest = args[1..].iter();
    let mut out = String::new();
    let mut chars = format.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let verb = chars.next().ok_or("format ends with a lone %")?;
        if verb == '%' {
            out.push('%');
            continue;
        }
        let arg = rest
            .next()
            .ok_or_else(|| format!("%{verb} has no argument"))?;
        match verb {
            's' | 'v' => out.push_str(&text(arg)),
            'd' => out.push_str(
                &arg.as_i64()
                    .ok_or_else(|| format!("%d needs an integer, got {arg}"))?
                    .to_string(),
            ),
            'q' => out.push_str(&serde_json::to_string(&text(arg)).unwrap_or_default()),
            other => return Err(format!("unsupported verb %{other}")),
        }
    }
    if rest.next().is_some() {
        return Err("more arguments than verbs".to_string());
    }
    Ok(Value::String(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn render(template: &str, data: Value) -> Result<String, String> {
        let mut hb = Handlebars::new();
        hb.set_strict_mode(true);
        hb.register_escape_fn(marks::escape);
        register(&mut hb);
        hb.register_template_string("labels", "app: {{name}}")
            .unwrap();
        hb.register_template_string("item", "{{name}} of {{@root.owner}}")
            .unwrap();
        hb.register_template_string("nested", "[{{include \"item\" this}}]")
            .unwrap();
        hb.render_template(template, &data)
            .map(|out| marks::strip(&out).into_owned())
            .map_err(|e| e.to_string())
    }

    #[test]
    fn yaml_and_indentation() {
        let out = render(
            "spec:{{nindent 2 (toYaml r)}}",
            json!({"r": {"cpu": "1", "mem": "2Gi"}}),
        )
        .unwrap();
        assert_eq!(out, "spec:\n  cpu: '1'\n  mem: 2Gi");
        assert_eq!(
            render("{{indent 2 t}}", json!({"t": "a\nb"})).unwrap(),
            "  a\n  b"
        );
        assert_eq!(
            render("{{toJson x}}", json!({"x": [1, "a"]})).unwrap(),
            "[1,\"a\"]"
        );
    }

    #[test]
    fn quoting() {
        assert_eq!(
            render("{{quote s}} {{squote s}}", json!({"s": "it's \"x\""})).unwrap(),
            "\"it's \\\"x\\\"\" 'it''s \"x\"'"
        );
        assert_eq!(render("{{quote n}}", json!({"n": 5})).unwrap(), "\"5\"");
    }

    #[test]
    fn default_and_required_accept_missing_values() {
        assert_eq!(render("{{default \"x\" nope}}", json!({})).unwrap(), "x");
        assert_eq!(
            render("{{default \"x\" s}}", json!({"s": "y"})).unwrap(),
            "y"
        );
        assert_eq!(render("{{default 3 n}}", json!({"n": 0})).unwrap(), "3");
        let err = render("{{required \"image is required\" image}}", json!({})).unwrap_err();
        assert!(err.contains("required: image is required"), "{err}");
    }

    #[test]
    fn strict_helpers_reject_missing_values() {
        let err = render("{{upper nope}}", json!({})).unwrap_err();
        assert!(err.contains("nope"), "{err}");
    }

    #[test]
    fn string_helpers() {
        let data = json!({"s": "Hello-World.yaml"});
        assert_eq!(
            render(
                "{{lower s}}|{{upper s}}|{{trunc 5 s}}|{{trunc -4 s}}",
                data.clone()
            )
            .unwrap(),
            "hello-world.yaml|HELLO-WORLD.YAML|Hello|yaml"
        );
        assert_eq!(
            render("{{trimSuffix \".yaml\" s}}|{{replace \"-\" \"_\" s}}", data).unwrap(),
            "Hello-World|Hello_World.yaml"
        );
        assert_eq!(render("{{b64enc \"abc\"}}", json!({})).unwrap(), "YWJj");
        assert_eq!(
            render("{{sha256sum \"abc\"}}", json!({})).unwrap(),
            crate::digest::sha256_hex(b"abc")
        );
    }

    #[test]
    fn base_is_the_last_element_of_a_uri() {
        let data = json!({"u": "s3://bucket/models/iris.joblib", "d": "gs://b/dir/", "n": "x"});
        assert_eq!(
            render("{{base u}} {{base d}} {{base n}}", data).unwrap(),
            "iris.joblib dir x"
        );
    }

    #[test]
    fn printf_formats_go_verbs() {
        assert_eq!(
            render(
                "{{printf \"%s-%d %q 100%%\" a n a}}",
                json!({"a": "x", "n": 7})
            )
            .unwrap(),
            "x-7 \"x\" 100%"
        );
        assert!(
            render("{{printf \"%d\" a}}", json!({"a": "x"}))
                .unwrap_err()
                .contains("%d needs an integer")
        );
    }

    #[test]
    fn include_renders_partials_with_context() {
        assert_eq!(
            render(
                "{{nindent 2 (include \"labels\" (dict \"name\" n))}}",
                json!({"n": "x"})
            )
            .unwrap(),
            "\n  app: x"
        );
        assert!(
            render("{{include \"nope\"}}", json!({}))
                .unwrap_err()
                .contains("no partial named `nope`")
        );
    }

    #[test]
    fn partials_see_the_callers_root_and_their_argument() {
        let data = json!({"owner": "o", "items": [{"name": "a"}, {"name": "b"}]});
        assert_eq!(
            render(
                "{{#each items}}{{include \"nested\" this}};{{/each}}",
                data.clone()
            )
            .unwrap(),
            "[a of o];[b of o];"
        );
        // Without an argument the partial gets the caller's `this`.
        assert_eq!(
            render(
                "{{#each items}}{{include \"item\"}};{{/each}}",
                data.clone()
            )
            .unwrap(),
            "a of o;b of o;"
        );
        assert_eq!(
            render("{{include \"nested\" (dict \"name\" \"c\")}}", data.clone()).unwrap(),
            "[c of o]"
        );
        // The argument is all a partial sees besides @root: no lookups in the caller's scope.
        assert!(
            render("{{include \"item\" (dict)}}", data)
                .unwrap_err()
                .contains("name")
        );
    }

    #[test]
    fn recursive_includes_and_huge_indents_are_errors() {
        let mut hb = Handlebars::new();
        register(&mut hb);
        hb.register_template_string("self", "x{{include \"self\" this}}")
            .unwrap();
        hb.register_template_string("a", "{{include \"b\" this}}")
            .unwrap();
        hb.register_template_string("b", "{{include \"a\" this}}")
            .unwrap();
        for name in ["self", "a"] {
            let err = hb.render(name, &json!({})).unwrap_err().to_string();
            assert!(err.contains("partials nest deeper than 64"), "{err}");
        }
        let err = render("{{indent 100000000000 \"x\"}}", json!({})).unwrap_err();
        assert!(err.contains("more than the 1024 allowed"), "{err}");
    }

    #[test]
    fn arithmetic_and_membership() {
        let data = json!({"n": 3, "s": "2", "l": ["a"], "m": {"k": 1}});
        assert_eq!(
            render(
                "{{add n s 1}} {{sub n 1}} {{mul n 2}} {{max n 7 s}} {{min n s}}",
                data.clone()
            )
            .unwrap(),
            "6 2 6 7 2"
        );
        assert_eq!(render("{{contains l \"a\"}} {{contains l \"b\"}} {{hasKey m \"k\"}} {{contains nope \"a\"}}", data.clone()).unwrap(), "true false true false");
        assert!(
            render("{{add n \"x\"}}", data)
                .unwrap_err()
                .contains("not an integer")
        );
    }

    #[test]
    fn comparisons_read_missing_values_as_null() {
        assert_eq!(
            render("{{#if (eq os \"windows\")}}w{{else}}l{{/if}}", json!({})).unwrap(),
            "l"
        );
        assert_eq!(
            render(
                "{{#if (not os)}}none{{/if}} {{len nope}} {{len l}}",
                json!({"l": [1, 2]})
            )
            .unwrap(),
            "none 0 2"
        );
    }

    #[test]
    fn builtins_compare() {
        assert_eq!(
            render(
                "{{#if (and (eq a 1) (not b))}}yes{{/if}}",
                json!({"a": 1, "b": false})
            )
            .unwrap(),
            "yes"
        );
    }
}
