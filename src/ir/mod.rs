//! The IR, `modelops.io/v1` (docs/ir.md): loading every YAML document of a fetched tree into
//! typed objects and checking their shape, names and references. All problems are collected.

pub mod fetch;
mod parse;
mod types;

pub use parse::{is_parameter_name, parse};
pub use types::*;
