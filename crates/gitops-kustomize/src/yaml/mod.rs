//! The YAML edge of the renderer: reading documents into JSON values the way kustomize's
//! reader resolves scalars, and writing them back with the bytes kustomize writes.
//!
//! kustomize turns every resource into JSON before printing it and then prints that JSON as YAML
//! with sorted keys, so the model in between is a plain [`serde_json::Value`]: comments, quoting
//! styles and key order of the input never reach the output. What a plain scalar means and how a
//! string is quoted are go-yaml's rules from [`gitops_yaml`], shared with the SOPS crate.

mod emit;
mod parse;
mod resolve;

pub use emit::{emit_document, emit_value};
pub(crate) use parse::{EmptyNulls, parse_documents_with};
pub use parse::{Limits, ParseError, parse_documents};

/// What a plain scalar with this text means to kustomize's reader (a string when it cannot be
/// represented, such as NaN).
pub(crate) fn resolve_plain_scalar(text: &str) -> serde_json::Value {
    resolve::resolve_plain(text).unwrap_or_else(|_| serde_json::Value::String(text.to_owned()))
}
