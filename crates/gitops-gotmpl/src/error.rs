//! Errors, formatted exactly as Go's `text/template` formats them.

use std::fmt;

/// A parse or execution error, whose `Display` is Go's text.
///
/// Parse errors read `template: NAME:LINE: MESSAGE`; execution errors read
/// `template: NAME:LINE:COL: executing "TEMPLATE" at <NODE>: MESSAGE` — what Helm shows a user
/// (Helm rewrites parse errors into `parse error at (NAME:LINE): MESSAGE`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The template text is not a valid template.
    #[error("template: {name}:{line}: {message}")]
    Parse {
        /// The name the text was parsed under (Helm: the file's path in the chart).
        name: String,
        /// The 1-based line of the token where parsing failed.
        line: usize,
        /// Go's message, e.g. `function "x" not defined`.
        message: String,
    },
    /// Execution failed.
    #[error("{}", DisplayExec(.0))]
    Exec(Box<ExecError>),
}

/// Where and why execution failed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ExecError {
    /// `NAME:LINE:COL` of the node being evaluated (the file the node was parsed from), or the
    /// template name when no node is known.
    pub location: String,
    /// The name of the template executing (a `define` name or the file's).
    pub template: String,
    /// The node being evaluated, printed as template text.
    pub context: Option<String>,
    /// Go's message, e.g. `nil pointer evaluating interface {}.b`.
    pub message: String,
}

struct DisplayExec<'a>(&'a ExecError);

impl fmt::Display for DisplayExec<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let e = self.0;
        match &e.context {
            Some(context) => write!(
                f,
                "template: {}: executing {} at <{}>: {}",
                e.location,
                crate::gofmt::quote(&e.template, false),
                context,
                e.message
            ),
            None => write!(f, "template: {}: {}", e.location, e.message),
        }
    }
}

impl Error {
    /// The message without Go's location prefix.
    pub fn message(&self) -> &str {
        match self {
            Error::Parse { message, .. } => message,
            Error::Exec(e) => &e.message,
        }
    }
}
