//! The template helpers a Helm chart author expects (DESIGN §5), under Helm's names and argument
//! order. Handlebars has no pipes, so `{{ toYaml .x | nindent 4 }}` becomes
//! `{{nindent 4 (toYaml x)}}`. `eq`, `ne`, `and`, `or`, `not`, `lookup`, `len` are Handlebars'
//! own built-ins.

use base64::Engine;
use handlebars::{
    Context, Handlebars, Helper, HelperDef, PathAndJson, RenderContext, RenderError,
    RenderErrorReason, ScopedJson,
};
use serde_json::{Map, Value};

pub fn register(registry: &mut Handlebars<'_>) {
    let helpers: [(&'static str, ValueHelper); 18] = [
        ("toYaml", ValueHelper::strict(1, 1, to_yaml)),
        (
            "toJson",
            ValueHelper::strict(1, 1, |a| {
                Ok(Value::String(
                    serde_json::to_string(&a[0]).unwrap_or_default(),
                ))
            }),
        ),
        (
            "indent",
            ValueHelper::strict(2, 2, |a| {
                Ok(Value::String(indent(count(&a[0])?, &text(&a[1]))))
            }),
        ),
        (
            "nindent",
            ValueHelper::strict(2, 2, |a| {
                Ok(Value::String(format!(
                    "\n{}",
                    indent(count(&a[0])?, &text(&a[1]))
                )))
            }),
        ),
        (
            "quote",
            ValueHelper::strict(1, usize::MAX, |a| {
                Ok(join_mapped(a, |s| {
                    serde_json::to_string(&s).unwrap_or_default()
                }))
            }),
        ),
        (
            "squote",
            ValueHelper::strict(1, usize::MAX, |a| {
                Ok(join_mapped(a, |s| format!("'{}'", s.replace('\'', "''"))))
            }),
        ),
        ("default", ValueHelper::lenient(2, 2, default)),
        ("required", ValueHelper::lenient(2, 2, required)),
        ("trunc", ValueHelper::strict(2, 2, trunc)),
        (
            "trimSuffix",
            ValueHelper::strict(2, 2, |a| {
                Ok(Value::String(
                    text(&a[1])
                        .strip_suffix(text(&a[0]).as_str())
                        .map(str::to_string)
                        .unwrap_or_else(|| text(&a[1])),
                ))
            }),
        ),
        (
            "lower",
            ValueHelper::strict(1, 1, |a| Ok(Value::String(text(&a[0]).to_lowercase()))),
        ),
        (
            "upper",
            ValueHelper::strict(1, 1, |a| Ok(Value::String(text(&a[0]).to_uppercase()))),
        ),
        (
            "replace",
            ValueHelper::strict(3, 3, |a| {
                Ok(Value::String(
                    text(&a[2]).replace(&text(&a[0]), &text(&a[1])),
                ))
            }),
        ),
        (
            "b64enc",
            ValueHelper::strict(1, 1, |a| {
                Ok(Value::String(
                    base64::engine::general_purpose::STANDARD.encode(text(&a[0])),
                ))
            }),
        ),
        (
            "sha256sum",
            ValueHelper::strict(1, 1, |a| {
                Ok(Value::String(crate::digest::sha256_hex(
                    text(&a[0]).as_bytes(),
                )))
            }),
        ),
        ("printf", ValueHelper::strict(1, usize::MAX, printf)),
        ("dict", ValueHelper::strict(0, usize::MAX, dict)),
        (
            "list",
            ValueHelper::strict(0, usize::MAX, |a| Ok(Value::Array(a.to_vec()))),
        ),
    ];
    for (name, mut helper) in helpers {
        helper.name = name;
        registry.register_helper(name, Box::new(helper));
    }
    registry.register_helper("include", Box::new(Include));
}

type HelperFn = fn(&[Value]) -> Result<Value, String>;

/// A helper that computes a value, so it works both as `{{h x}}` and as a subexpression `(h x)`.
struct ValueHelper {
    name: &'static str,
    min: usize,
    max: usize,
    /// Lenient helpers (`default`, `required`) receive missing values as null instead of failing.
    lenient: bool,
    f: HelperFn,
}

impl ValueHelper {
    fn strict(min: usize, max: usize, f: HelperFn) -> Self {
        ValueHelper {
            name: "",
            min,
            max,
            lenient: false,
            f,
        }
    }

    fn lenient(min: usize, max: usize, f: HelperFn) -> Self {
        ValueHelper {
            name: "",
            min,
            max,
            lenient: true,
            f,
        }
    }
}

fn missing(param: &PathAndJson<'_>) -> RenderError {
    RenderErrorReason::MissingVariable(param.relative_path().cloned()).into()
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
        let mut args = Vec::with_capacity(params.len());
        for param in params {
            if param.is_value_missing() {
                if !self.lenient {
                    return Err(missing(param));
                }
                args.push(Value::Null);
            } else {
                args.push(param.value().clone());
            }
        }
        (self.f)(&args)
            .map(ScopedJson::Derived)
            .map_err(|message| fail(self.name, message))
    }
}

/// `include "name" context`: renders a named partial to a string, so its output can be indented.
struct Include;

impl HelperDef for Include {
    fn call_inner<'reg: 'rc, 'rc>(
        &self,
        h: &Helper<'rc>,
        registry: &'reg Handlebars<'reg>,
        ctx: &'rc Context,
        _: &mut RenderContext<'reg, 'rc>,
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
        let context = match h.param(1) {
            Some(param) if param.is_value_missing() => return Err(missing(param)),
            Some(param) => Context::wraps(param.value())?,
            None => ctx.clone(),
        };
        if registry.get_template(name).is_none() {
            return Err(fail(
                "include",
                format!(
                    "no partial named `{name}` (define it with {{{{#*inline \"{name}\"}}}} in a templates/_*.tpl file)"
                ),
            ));
        }
        let rendered = registry.render_with_context(name, &context)?;
        Ok(ScopedJson::Derived(Value::String(rendered)))
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

fn indent(spaces: usize, text: &str) -> String {
    let pad = " ".repeat(spaces);
    format!("{pad}{}", text.replace('\n', &format!("\n{pad}")))
}

fn join_mapped(args: &[Value], f: impl Fn(String) -> String) -> Value {
    Value::String(
        args.iter()
            .map(|a| f(text(a)))
            .collect::<Vec<_>>()
            .join(" "),
    )
}

fn to_yaml(args: &[Value]) -> Result<Value, String> {
    let yaml = match &args[0] {
        Value::Null => String::new(),
        value => crate::yaml::to_string(value),
    };
    Ok(Value::String(yaml.trim_end_matches('\n').to_string()))
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

fn default(args: &[Value]) -> Result<Value, String> {
    Ok(if is_empty(&args[1]) {
        args[0].clone()
    } else {
        args[1].clone()
    })
}

fn required(args: &[Value]) -> Result<Value, String> {
    match &args[1] {
        Value::Null => Err(text(&args[0])),
        Value::String(s) if s.is_empty() => Err(text(&args[0])),
        value => Ok(value.clone()),
    }
}

fn trunc(args: &[Value]) -> Result<Value, String> {
    let n = args[0]
        .as_i64()
        .ok_or_else(|| format!("expected a number, got {}", args[0]))?;
    let chars: Vec<char> = text(&args[1]).chars().collect();
    let len = chars.len() as i64;
    let kept: String = if n >= 0 {
        chars[..n.min(len) as usize].iter().collect()
    } else {
        chars[(len + n).max(0) as usize..].iter().collect()
    };
    Ok(Value::String(kept))
}

fn dict(args: &[Value]) -> Result<Value, String> {
    if !args.len().is_multiple_of(2) {
        return Err("expects key/value pairs".to_string());
    }
    let mut map = Map::new();
    for pair in args.chunks(2) {
        map.insert(text(&pair[0]), pair[1].clone());
    }
    Ok(Value::Object(map))
}

/// The common Go verbs: `%s`, `%d`, `%v`, `%q`, `%%`.
fn printf(args: &[Value]) -> Result<Value, String> {
    let format = text(&args[0]);
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
        hb.register_escape_fn(handlebars::no_escape);
        register(&mut hb);
        hb.register_template_string("labels", "app: {{name}}")
            .unwrap();
        hb.render_template(template, &data)
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
