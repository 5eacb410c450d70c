//! The error type of the test environment.

/// Why a component of the test environment could not be started or used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A binary or package is not installed; `bash scripts/provision.sh` installs it.
    #[error(
        "{component} is not installed ({detail}); install it with `{}`",
        crate::PROVISION_COMMAND
    )]
    Missing {
        /// The component, e.g. `kube-apiserver`.
        component: &'static str,
        /// What was looked for.
        detail: String,
    },
    /// A file or process operation failed.
    #[error("{context}")]
    Io {
        /// What was being done.
        context: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A command ran but failed.
    #[error("{command} failed: {detail}")]
    Command {
        /// The command line, shortened.
        command: String,
        /// Exit status and standard error.
        detail: String,
    },
    /// A server did not become ready.
    #[error("{server} did not start: {detail}")]
    Start {
        /// The server, e.g. `etcd`.
        server: String,
        /// What went wrong, including the tail of its log.
        detail: String,
    },
    /// An HTTP request to a test server failed.
    #[error("http request failed: {context}")]
    Http {
        /// The request.
        context: String,
        /// The cause.
        #[source]
        source: reqwest::Error,
    },
    /// A registry answered with an unexpected status.
    #[error("{context}: unexpected status {status}: {body}")]
    Status {
        /// The request.
        context: String,
        /// The HTTP status.
        status: u16,
        /// The start of the response body.
        body: String,
    },
    /// A Kubernetes API call failed.
    #[error("kubernetes: {context}")]
    Kube {
        /// The call.
        context: String,
        /// The cause.
        #[source]
        source: kube::Error,
    },
}

impl Error {
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Self::Io {
            context: context.into(),
            source,
        }
    }

    /// Whether this error means "not installed" (a test may be skipped) rather than a failure.
    pub fn is_missing(&self) -> bool {
        matches!(self, Self::Missing { .. })
    }
}
