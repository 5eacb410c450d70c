//! YAML scalars the way go-yaml v3 reads and writes them: what a plain scalar resolves to, which
//! style a string is written in, and the text of each style.
//!
//! The tools gitops-rs reproduces byte for byte are Go programs built on go-yaml v3: kustomize
//! reads resources through kyaml, and `sops` reads and writes its YAML files with it. The
//! functions here follow go-yaml v3, and Go's `strconv` and `time` where go-yaml calls them, so
//! `gitops-kustomize` and `gitops-sops` read and print a scalar alike.
//!
//! Where to start:
//! - [`resolve()`]: what a plain scalar means (null, boolean, integer, float, timestamp or string).
//! - [`scalar_style`]: the style go-yaml's emitter writes a string in, then
//!   [`push_single_quoted`], [`push_double_quoted`] or [`push_literal`] to write it.
//! - [`format_float`]: a float as Go prints it.
//!
//! kustomize prints its output through `sigs.k8s.io/yaml`, whose fork of go-yaml v2 chooses
//! styles the same way but for two details; [`GoYaml`] names the version to write like.
//!
//! Only scalars live here: reading documents into a tree and laying out collections
//! (indentation, key order, comments, line wrapping) belong to the crate that needs them.
//!
//! # Example
//! ```
//! use gitops_yaml::{GoYaml, Resolved, ScalarStyle, resolve, scalar_style};
//!
//! assert_eq!(resolve("0x1F"), Resolved::Int(31));
//! // `yes` is a string to a YAML 1.2 reader such as go-yaml v3...
//! assert_eq!(resolve("yes"), Resolved::Str);
//! // ...and go-yaml quotes it all the same, for YAML 1.1 readers that take it for a boolean.
//! assert_eq!(scalar_style("yes", false, GoYaml::V3), ScalarStyle::DoubleQuoted);
//!
//! let mut out = String::new();
//! gitops_yaml::push_double_quoted(&mut out, "tab\there");
//! assert_eq!(out, r#""tab\there""#);
//! ```

mod number;
mod resolve;
mod style;
mod timestamp;

pub use number::{format_float, is_yaml_float};
pub use resolve::{Resolved, can_be_plain, resolve};
pub use style::{
    GoYaml, ScalarStyle, push_double_quoted, push_double_quoted_char, push_literal,
    push_single_quoted, scalar_style,
};
pub use timestamp::Timestamp;
