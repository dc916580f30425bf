//! Input problems with their exact place: file, document and field path. Validation collects
//! all of them and reports them together, so a user fixes an IR in one round.

use std::fmt;

/// Where a YAML document lives: file, 1-based position in the file, and what it declares.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Origin {
    pub file: String,
    pub document: usize,
    /// `Kind/name` once known, for messages.
    pub object: Option<String>,
}

impl Origin {
    pub fn new(file: impl Into<String>, document: usize) -> Self {
        Origin {
            file: file.into(),
            document,
            object: None,
        }
    }

    pub fn with_object(mut self, kind: &str, name: &str) -> Self {
        self.object = Some(format!("{kind}/{name}"));
        self
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if self.document > 0 {
            write!(f, ", document {}", self.document)?;
        }
        if let Some(object) = &self.object {
            write!(f, " ({object})")?;
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Diagnostic {
    pub origin: Origin,
    /// Dotted field path inside the document, e.g. `spec.steps[1].model`; empty for the whole document.
    pub field: String,
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.is_empty() {
            write!(f, "{}: {}", self.origin, self.message)
        } else {
            write!(f, "{}: {}: {}", self.origin, self.field, self.message)
        }
    }
}

/// A non-empty set of problems, displayed one per line.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    pub fn push(&mut self, origin: &Origin, field: impl Into<String>, message: impl Into<String>) {
        self.0.push(Diagnostic {
            origin: origin.clone(),
            field: field.into(),
            message: message.into(),
        });
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn extend(&mut self, other: Diagnostics) {
        self.0.extend(other.0);
    }

    /// `Ok(value)` when nothing was found, otherwise the problems sorted by place.
    pub fn into_result<T>(mut self, value: T) -> Result<T, Diagnostics> {
        if self.0.is_empty() {
            Ok(value)
        } else {
            self.0.sort();
            self.0.dedup();
            Err(self)
        }
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let count = self.0.len();
        write!(f, "{count} problem{}:", if count == 1 { "" } else { "s" })?;
        for diagnostic in &self.0 {
            write!(f, "\n  - {diagnostic}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostics {}

/// "did you mean" for a misspelt key or name, when one candidate is close enough.
pub fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|candidate| (strsim::damerau_levenshtein(word, candidate), candidate))
        .filter(|(distance, candidate)| {
            *distance <= (candidate.len() / 3).max(1) && *distance < word.len().max(1) + 1
        })
        .min()
        .map(|(_, candidate)| candidate)
}

pub fn suggestion<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> String {
    did_you_mean(word, candidates)
        .map(|c| format!(" (did you mean `{c}`?)"))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_keys_only() {
        assert_eq!(
            did_you_mean("replcas", ["replicas", "steps"]),
            Some("replicas")
        );
        assert_eq!(did_you_mean("zzz", ["replicas", "steps"]), None);
    }

    #[test]
    fn display_lists_every_problem_with_place() {
        let mut d = Diagnostics::default();
        let origin = Origin::new("flows.yaml", 2).with_object("ScoringFlow", "score");
        d.push(&origin, "spec.replicas", "must be at least 1");
        let text = d.into_result(()).unwrap_err().to_string();
        assert_eq!(
            text,
            "1 problem:\n  - flows.yaml, document 2 (ScoringFlow/score): spec.replicas: must be at least 1"
        );
    }
}
