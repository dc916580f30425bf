//! Model artifacts: where they live (URIs), which of them a job may name (checked before apply),
//! and `fetch-models`, which downloads, verifies and unpacks them in a scoring service's init
//! container (docs/artifact-stores.md).

pub mod check;
pub mod credentials;
pub mod fetch;
pub mod uri;
