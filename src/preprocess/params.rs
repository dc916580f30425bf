//! `${name}` substitution with `$${` as the escape for a literal `${`.

use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubstituteError {
    #[error("parameter `{name}` is not defined{known}")]
    Undefined { name: String, known: String },
    #[error("`${{` without a closing `}}`")]
    Unterminated,
    #[error("`${{}}` names no parameter")]
    Empty,
}

/// Parameters visible to a string, highest precedence first.
pub struct Scope<'a> {
    layers: Vec<&'a BTreeMap<String, String>>,
}

impl<'a> Scope<'a> {
    pub fn new(layers: Vec<&'a BTreeMap<String, String>>) -> Self {
        Scope { layers }
    }

    pub fn get(&self, name: &str) -> Option<&'a str> {
        self.layers
            .iter()
            .find_map(|layer| layer.get(name))
            .map(String::as_str)
    }

    fn known(&self) -> Vec<&'a str> {
        let mut names: Vec<&str> = self
            .layers
            .iter()
            .flat_map(|l| l.keys().map(String::as_str))
            .collect();
        names.sort_unstable();
        names.dedup();
        names
    }
}

/// Replaces every `${name}`; substituted text is not scanned again, so values can't recurse.
pub fn substitute(text: &str, scope: &Scope) -> Result<String, SubstituteError> {
    if !text.contains('$') {
        return Ok(text.to_string());
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let tail = &rest[pos..];
        if let Some(after) = tail.strip_prefix("$${") {
            out.push_str("${");
            rest = after;
        } else if let Some(after) = tail.strip_prefix("${") {
            let end = after.find('}').ok_or(SubstituteError::Unterminated)?;
            let name = after[..end].trim();
            if name.is_empty() {
                return Err(SubstituteError::Empty);
            }
            let value = scope.get(name).ok_or_else(|| {
                let known = scope.known();
                let hint = crate::diagnostics::suggestion(name, known.iter().copied());
                let list = if known.is_empty() {
                    " (no parameters are defined)".to_string()
                } else {
                    format!("{hint}; defined: {}", known.join(", "))
                };
                SubstituteError::Undefined {
                    name: name.to_string(),
                    known: list,
                }
            })?;
            out.push_str(value);
            rest = &after[end + 1..];
        } else {
            out.push('$');
            rest = &tail[1..];
        }
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn higher_layers_win() {
        let cli = map(&[("a", "cli")]);
        let flow = map(&[("a", "flow"), ("b", "flow")]);
        let pipeline = map(&[("a", "p"), ("b", "p"), ("c", "p")]);
        let scope = Scope::new(vec![&cli, &flow, &pipeline]);
        assert_eq!(substitute("${a}/${b}/${c}", &scope).unwrap(), "cli/flow/p");
    }

    #[test]
    fn escapes_and_lone_dollars_are_literal() {
        let empty = BTreeMap::new();
        let scope = Scope::new(vec![&empty]);
        assert_eq!(
            substitute("cost $5, $${literal}", &scope).unwrap(),
            "cost $5, ${literal}"
        );
    }

    #[test]
    fn substituted_text_is_not_rescanned() {
        let params = map(&[("a", "${b}")]);
        let scope = Scope::new(vec![&params]);
        assert_eq!(substitute("${a}", &scope).unwrap(), "${b}");
    }

    #[test]
    fn errors_name_the_parameter() {
        let params = map(&[("threshold", "1")]);
        let scope = Scope::new(vec![&params]);
        let err = substitute("x > ${treshold}", &scope)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("`treshold` is not defined (did you mean `threshold`?)"),
            "{err}"
        );
        assert_eq!(
            substitute("${open", &scope),
            Err(SubstituteError::Unterminated)
        );
        assert_eq!(substitute("${ }", &scope), Err(SubstituteError::Empty));
    }
}
