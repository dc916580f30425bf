//! `tpl` (a string from the values rendered as a template, as in Helm) and `lookup` (Handlebars'
//! key lookup; Helm's cluster query is refused: rendering is offline and deterministic).

use handlebars::{
    Context, Handlebars, Helper, HelperDef, RenderContext, RenderError, RenderErrorReason,
    Renderable, ScopedJson, StringOutput, Template,
};
use serde_json::Value;
use std::cell::Cell;

/// The longest string `tpl` renders, and the most output one call may produce.
pub const MAX_TPL_SOURCE: usize = 64 * 1024;
pub const MAX_TPL_OUTPUT: usize = 1024 * 1024;
/// How deep `tpl` may nest (a value that renders itself would otherwise recurse forever).
pub const MAX_TPL_DEPTH: usize = 8;

thread_local! {
    static DEPTH: Cell<usize> = const { Cell::new(0) };
}

fn fail(helper: &str, message: impl std::fmt::Display) -> RenderError {
    RenderErrorReason::Other(format!("{helper}: {message}")).into()
}

/// `tpl TEMPLATE [CONTEXT]`: renders the string with the same helpers, partials and strict mode
/// as a chart template. `this` is CONTEXT (the caller's `this` without one); `@root` stays the
/// calling template's root, so at a template's top level `{{tpl Values.x this}}` is Helm's
/// `{{ tpl .Values.x $ }}`, and inside a block the string can read `@root.Release.Name`.
pub(super) struct Tpl;

impl HelperDef for Tpl {
    fn call_inner<'reg: 'rc, 'rc>(
        &self,
        h: &Helper<'rc>,
        registry: &'reg Handlebars<'reg>,
        ctx: &'rc Context,
        rc: &mut RenderContext<'reg, 'rc>,
    ) -> Result<ScopedJson<'rc>, RenderError> {
        let source = match h.param(0) {
            Some(param) if param.is_value_missing() => {
                return Err(super::helpers::missing(param));
            }
            Some(param) => match param.value() {
                Value::String(text) => text.as_str(),
                other => {
                    return Err(fail(
                        "tpl",
                        format!("expects a string, got {}", crate::schema::type_name(other)),
                    ));
                }
            },
            None => return Err(fail("tpl", "expects a template string")),
        };
        if source.len() > MAX_TPL_SOURCE {
            return Err(fail(
                "tpl",
                format!(
                    "the template is {} bytes; at most {MAX_TPL_SOURCE}",
                    source.len()
                ),
            ));
        }
        if let Some((line, column, what)) = super::go_template::find(source) {
            return Err(fail(
                "tpl",
                format!("{}:{}: {}", line, column, super::go_template::message(what)),
            ));
        }
        let template = Template::compile(source).map_err(|err| {
            fail(
                "tpl",
                format!("the string is not a valid template: {}", err.reason()),
            )
        })?;
        let depth = DEPTH.with(Cell::get);
        if depth >= MAX_TPL_DEPTH {
            return Err(fail(
                "tpl",
                format!("nested more than {MAX_TPL_DEPTH} deep"),
            ));
        }
        let mut inner = RenderContext::new(None);
        super::helpers::scope_like_a_partial(&mut inner, h.param(1), rc)?;
        let mut out = StringOutput::new();
        DEPTH.with(|d| d.set(depth + 1));
        let rendered = template.render(registry, ctx, &mut inner, &mut out);
        DEPTH.with(|d| d.set(depth));
        rendered?;
        let text = out
            .into_string()
            .map_err(|err| fail("tpl", format!("output is not UTF-8: {err}")))?;
        if text.len() > MAX_TPL_OUTPUT {
            return Err(fail(
                "tpl",
                format!(
                    "the output is {} bytes; at most {MAX_TPL_OUTPUT}",
                    text.len()
                ),
            ));
        }
        Ok(ScopedJson::Derived(Value::String(text)))
    }
}

/// `lookup obj key`: Handlebars' key (or list index) lookup, strict like the built-in. Helm's
/// `lookup "v1" "Secret" "ns" "name"` reads the cluster while rendering; here rendering never
/// touches a cluster (the same inputs render the same objects), so that form is an error.
pub(super) struct Lookup;

impl HelperDef for Lookup {
    fn call_inner<'reg: 'rc, 'rc>(
        &self,
        h: &Helper<'rc>,
        registry: &'reg Handlebars<'reg>,
        _: &'rc Context,
        _: &mut RenderContext<'reg, 'rc>,
    ) -> Result<ScopedJson<'rc>, RenderError> {
        if h.params().len() != 2 {
            return Err(fail(
                "lookup",
                format!(
                    "Helm's `lookup \"apiVersion\" \"kind\" \"namespace\" \"name\"` queries the cluster; \
                     this engine renders offline and deterministically, so it is not supported \
                     (pass what you need as values: -f, --set or the globals); `lookup obj key` \
                     reads a key (got {} arguments)",
                    h.params().len()
                ),
            ));
        }
        let (object, key) = (h.param(0).expect("two"), h.param(1).expect("two"));
        if object.is_value_missing() {
            return Err(super::helpers::missing(object));
        }
        let found = match (object.value(), key.value()) {
            (Value::Array(items), Value::Number(index)) => {
                index.as_u64().and_then(|i| items.get(i as usize))
            }
            (Value::Object(map), Value::String(name)) => map.get(name),
            _ => None,
        };
        match found {
            Some(value) => Ok(ScopedJson::Derived(value.clone())),
            None if registry.strict_mode() => {
                Err(RenderErrorReason::MissingVariable(Some(format!(
                    "{}.[{}]",
                    object.relative_path().map_or("", String::as_str),
                    super::helpers::text(key.value())
                )))
                .into())
            }
            None => Ok(ScopedJson::Derived(Value::Null)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn render(template: &str, data: Value) -> Result<String, String> {
        let mut hb = Handlebars::new();
        hb.set_strict_mode(true);
        // As the chart's registry: values are marked (marks.rs); the test reads the text without.
        hb.register_escape_fn(crate::render::marks::escape);
        super::super::helpers::register(&mut hb);
        hb.register_template_string("greeting", "hi {{name}}")
            .unwrap();
        hb.render_template(template, &data)
            .map(|out| crate::render::marks::strip(&out).into_owned())
            .map_err(|e| e.to_string())
    }

    #[test]
    fn tpl_renders_a_value_as_a_template() {
        let data = json!({"Values": {"host": "{{Release.Name}}-db.{{upper zone}}", "zone": "eu"},
                          "Release": {"Name": "job-1"}});
        let err = render("{{#with Values}}{{tpl host this}}{{/with}}", data.clone()).unwrap_err();
        assert!(
            err.contains("Release.Name"),
            "`this` is the context argument; strict: a missing value fails: {err}"
        );
        assert_eq!(
            render("{{tpl \"{{Release.Name}}-{{include \\\"greeting\\\" (dict \\\"name\\\" Values.zone)}}\" this}}", data.clone()).unwrap(),
            "job-1-hi eu"
        );
        assert_eq!(
            render("{{tpl \"{{@root.Release.Name}}/{{zone}}\" Values}}", data).unwrap(),
            "job-1/eu",
            "@root stays the template's root"
        );
    }

    #[test]
    fn tpl_is_bounded_and_refuses_go_syntax() {
        let looping = json!({"x": "{{tpl @root.x}}"});
        let err = render("{{tpl x}}", looping).unwrap_err();
        assert!(err.contains("nested more than 8 deep"), "{err}");
        let big = json!({"x": "a".repeat(MAX_TPL_SOURCE + 1)});
        assert!(
            render("{{tpl x}}", big)
                .unwrap_err()
                .contains("at most 65536")
        );
        let go = json!({"x": "{{ .Values.name }}"});
        let err = render("{{tpl x}}", go).unwrap_err();
        assert!(
            err.contains("Go template") && err.contains("charts/README.md"),
            "{err}"
        );
        assert!(
            render("{{tpl x}}", json!({"x": 3}))
                .unwrap_err()
                .contains("expects a string")
        );
        assert!(
            render("{{tpl x}}", json!({"x": "{{#if}}"}))
                .unwrap_err()
                .contains("not a valid template")
        );
    }

    #[test]
    fn lookup_reads_keys_and_refuses_cluster_queries() {
        assert_eq!(
            render(
                "{{lookup m \"a.b\"}} {{lookup l 1}}",
                json!({"m": {"a.b": "x"}, "l": [1, 2]})
            )
            .unwrap(),
            "x 2"
        );
        assert!(render("{{lookup m \"nope\"}}", json!({"m": {}})).is_err());
        let err = render("{{lookup \"v1\" \"Secret\" \"ns\" \"db\"}}", json!({})).unwrap_err();
        assert!(
            err.contains("renders offline") && err.contains("not supported"),
            "{err}"
        );
    }
}
