//! The Kubernetes vocabulary of the executor, pure data that every stage shares: how each kind is
//! treated ([`kinds`]), how an object is named ([`ObjectRef`]), and how the job's objects are
//! marked and recognised as its own ([`ownership`]). No I/O: `cluster/` does that.

pub mod kinds;
pub mod ownership;

use serde::Serialize;

/// Which object: apiVersion, kind, namespace (none for cluster-scoped kinds) and name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct ObjectRef {
    #[serde(rename = "apiVersion")]
    pub api_version: String,
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    pub name: String,
}

/// apiVersion, kind, namespace, name borrowed: what identifies an object across uids, for sets
/// and maps.
pub type ObjectKey<'a> = (&'a str, &'a str, Option<&'a str>, &'a str);

impl ObjectRef {
    pub fn key(&self) -> ObjectKey<'_> {
        (
            &self.api_version,
            &self.kind,
            self.namespace.as_deref(),
            &self.name,
        )
    }

    /// `kind/name`, how kubectl and the messages name an object.
    pub fn display(&self) -> String {
        display(&self.kind, &self.name)
    }
}

/// The group of an `apiVersion` without its version, `""` for the core group.
pub fn group_of(api_version: &str) -> &str {
    api_version
        .rsplit_once('/')
        .map(|(group, _)| group)
        .unwrap_or("")
}

/// `kind/name`, how kubectl and the messages name an object.
pub fn display(kind: &str, name: &str) -> String {
    format!("{}/{name}", kind.to_ascii_lowercase())
}
