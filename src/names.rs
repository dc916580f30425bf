//! Kubernetes naming rules: DNS-1123 labels for object names, the label-value syntax, and names
//! derived from several parts that stay within a length budget (a stable hash replaces the tail).

use crate::digest::sha256_hex;

pub const MAX_LABEL: usize = 63;

/// The longest base name of a component, so that the longest prefix or suffix the charts add
/// (`scoringservice-` is 15 characters) still fits in 63.
pub const MAX_BASE_NAME: usize = 47;

/// RFC 1123 label: lowercase alphanumerics and `-`, alphanumeric at both ends, at most 63.
pub fn is_dns1123_label(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_LABEL
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-')
}

/// Joins parts with `-` into a DNS-1035 label (starts with a letter, so it is valid for Services
/// too) of at most `max` characters. Too long a name keeps its head and gets an 8-hex hash of the
/// whole, so distinct inputs stay distinct and the same input always gives the same name.
pub fn bounded_name(parts: &[&str], max: usize) -> String {
    let joined = parts
        .iter()
        .filter(|p| !p.is_empty())
        .copied()
        .collect::<Vec<_>>()
        .join("-");
    let mut name = sanitize_dns(&joined);
    if !name.starts_with(|c: char| c.is_ascii_lowercase()) {
        name = format!("m-{name}");
    }
    if name.len() <= max {
        return name.trim_end_matches('-').to_string();
    }
    let hash = &sha256_hex(joined.as_bytes())[..8];
    let head = name[..max - 9].trim_end_matches('-');
    format!("{head}-{hash}")
}

/// A label value: at most 63 of `[A-Za-z0-9._-]`, alphanumeric at both ends; empty stays empty.
pub fn label_value(text: &str) -> String {
    let cleaned: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '-'
            }
        })
        .collect();
    let trimmed = trim_non_alnum(&cleaned);
    if trimmed.len() <= MAX_LABEL {
        return trimmed.to_string();
    }
    let hash = &sha256_hex(text.as_bytes())[..8];
    format!("{}-{hash}", trim_non_alnum(&trimmed[..MAX_LABEL - 9]))
}

fn sanitize_dns(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            out.push(c);
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_matches('-').to_string()
}

fn trim_non_alnum(text: &str) -> &str {
    text.trim_matches(|c: char| !c.is_ascii_alphanumeric())
}

/// A container image reference split as the charts' `image` values hold it (`registry`,
/// `repository`, `tag` or `digest`). A reference without a registry host is Docker Hub's, as for
/// every container runtime.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageReference {
    pub registry: String,
    pub repository: String,
    pub tag: Option<String>,
    pub digest: Option<String>,
}

impl std::str::FromStr for ImageReference {
    type Err = String;
    fn from_str(text: &str) -> Result<ImageReference, String> {
        let (name, digest) = match text.split_once('@') {
            Some((name, digest)) => {
                let hex = digest.strip_prefix("sha256:").unwrap_or_default();
                if hex.len() != 64
                    || !hex
                        .bytes()
                        .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
                {
                    return Err(format!(
                        "`{digest}` is not a digest (sha256: and 64 lowercase hex)"
                    ));
                }
                (name, Some(digest.to_string()))
            }
            None => (text, None),
        };
        let (name, tag) = match name.rsplit_once(':') {
            Some((head, tag)) if !tag.contains('/') => (head, Some(tag.to_string())),
            _ => (name, None),
        };
        if let Some(tag) = &tag {
            let valid = !tag.is_empty()
                && tag.len() <= 128
                && !tag.starts_with(['.', '-'])
                && tag
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
            if !valid {
                return Err(format!("`{tag}` is not an image tag"));
            }
        }
        if tag.is_none() && digest.is_none() {
            return Err(format!(
                "`{text}` names no tag or digest (pin the version the scoring pods run)"
            ));
        }
        let (registry, repository) = match name.split_once('/') {
            Some((host, rest)) if host.contains(['.', ':']) || host == "localhost" => (host, rest),
            _ => ("docker.io", name),
        };
        let valid_repository = !repository.is_empty()
            && repository.split('/').all(|part| {
                !part.is_empty()
                    && part.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
                    && part.bytes().all(|b| {
                        b.is_ascii_lowercase()
                            || b.is_ascii_digit()
                            || matches!(b, b'.' | b'_' | b'-')
                    })
            });
        if registry.is_empty() || !valid_repository {
            return Err(format!(
                "`{text}` is not an image reference ([registry/]repository:tag or @sha256:…)"
            ));
        }
        Ok(ImageReference {
            registry: registry.to_string(),
            repository: repository.to_string(),
            tag,
            digest,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn short_names_are_joined() {
        assert_eq!(
            bounded_name(&["fraud", "pmml"], MAX_BASE_NAME),
            "fraud-pmml"
        );
        assert_eq!(
            bounded_name(&["Fraud_Detection", "", "PMML"], 63),
            "fraud-detection-pmml"
        );
        assert_eq!(bounded_name(&["1st", "flow"], 63), "m-1st-flow");
    }

    #[test]
    fn long_names_keep_head_and_hash() {
        let long = "a".repeat(60);
        let one = bounded_name(&[&long, "flow-one"], MAX_BASE_NAME);
        let two = bounded_name(&[&long, "flow-two"], MAX_BASE_NAME);
        assert_eq!(one.len(), MAX_BASE_NAME);
        assert_ne!(one, two);
        assert!(is_dns1123_label(&one));
    }

    #[test]
    fn image_references_split_as_the_charts_hold_them() {
        let full: ImageReference = "ghcr.io/modelops/modelops-executor:0.1.0".parse().unwrap();
        assert_eq!(
            (
                full.registry.as_str(),
                full.repository.as_str(),
                full.tag.as_deref(),
                full.digest
            ),
            ("ghcr.io", "modelops/modelops-executor", Some("0.1.0"), None)
        );
        let digest = format!("sha256:{}", "a".repeat(64));
        let pinned: ImageReference = format!("localhost:5000/x@{digest}").parse().unwrap();
        assert_eq!(
            (
                pinned.registry.as_str(),
                pinned.repository.as_str(),
                pinned.tag,
                pinned.digest
            ),
            ("localhost:5000", "x", None, Some(digest))
        );
        let hub: ImageReference = "busybox:1".parse().unwrap();
        assert_eq!(
            (hub.registry.as_str(), hub.repository.as_str()),
            ("docker.io", "busybox")
        );
        for bad in [
            "",
            "ghcr.io/x",
            "X/Y:1",
            "a:",
            "a:b c",
            "a@sha256:12",
            "ghcr.io/:1",
            "a//b:1",
        ] {
            assert!(bad.parse::<ImageReference>().is_err(), "{bad}");
        }
    }

    #[test]
    fn label_values_are_sanitised() {
        assert_eq!(label_value("fraud detection!"), "fraud-detection");
        assert_eq!(label_value("-x-"), "x");
        let long = label_value(&"b".repeat(100));
        assert_eq!(long.len(), 63);
    }

    proptest! {
        #[test]
        fn bounded_names_are_always_valid(parts in proptest::collection::vec(".{0,80}", 1..4), max in 20usize..=63) {
            let refs: Vec<&str> = parts.iter().map(String::as_str).collect();
            let name = bounded_name(&refs, max);
            prop_assert!(name.len() <= max, "{name}");
            prop_assert!(name.is_empty() || is_dns1123_label(&name) || name == "m", "{name}");
        }

        #[test]
        fn label_values_are_always_valid(text in ".{0,120}") {
            let value = label_value(&text);
            prop_assert!(value.len() <= MAX_LABEL);
            prop_assert!(value.is_empty() || (value.starts_with(|c: char| c.is_ascii_alphanumeric()) && value.ends_with(|c: char| c.is_ascii_alphanumeric())));
        }
    }
}
