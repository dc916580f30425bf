//! A job from its inputs to what install applies: the IR, the channel registry, the globals and
//! the values flags are read, merged, checked and rendered into objects in install order
//! ([`inputs`], offline: `render`, `preprocess`), completed from the cluster for install and
//! `diff` ([`install`]). The commands are thin `exec`s over this.

pub mod inputs;
pub mod install;

pub use inputs::{FromCluster, Prepared, prepare, prepare_keeping, preprocess, resolve_chart};
