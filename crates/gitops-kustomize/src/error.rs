//! Errors of a build.

/// Why a build failed. Every variant names the file (relative to the build's root when known).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The input is wrong: a bad kustomization field, a bad patch, a conflict.
    #[error("{path}: {message}")]
    Invalid {
        /// The file at fault.
        path: String,
        /// What is wrong, with the field that holds it.
        message: String,
    },
    /// A path leaves the allowed root (or follows a symlink out of it).
    #[error("{path}: {message}")]
    PathEscape {
        /// The offending path as written.
        path: String,
        /// Which root it leaves.
        message: String,
    },
    /// A kustomize feature this renderer does not implement.
    #[error("{path}: {feature} is not supported by this renderer")]
    Unsupported {
        /// The file that asks for it.
        path: String,
        /// The feature.
        feature: String,
    },
    /// A file could not be read.
    #[error("{path}: cannot read")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A file is not valid YAML.
    #[error("{path}: invalid YAML")]
    Yaml {
        /// The file.
        path: String,
        /// The parser's error.
        #[source]
        source: crate::yaml::ParseError,
    },
    /// A generator input could not be decrypted.
    #[error("{path}: cannot decrypt")]
    Decrypt {
        /// The file.
        path: String,
        /// The decryptor's error.
        #[source]
        source: gitops_core::decrypt::Error,
    },
}

pub(crate) fn invalid(path: impl Into<String>, message: impl Into<String>) -> Error {
    Error::Invalid {
        path: path.into(),
        message: message.into(),
    }
}

impl From<Error> for gitops_core::render::Error {
    fn from(e: Error) -> Self {
        use gitops_core::render::Error as R;
        match e {
            Error::Invalid { path, message } => R::Invalid {
                path,
                message,
                source: None,
            },
            Error::PathEscape { path, .. } => R::PathEscape { path },
            Error::Unsupported { path, feature } => R::Unsupported { path, feature },
            Error::Io { path, source } => R::Io { path, source },
            Error::Yaml { path, source } => R::Invalid {
                path,
                message: "invalid YAML".into(),
                source: Some(Box::new(source)),
            },
            Error::Decrypt { source, .. } => R::Decrypt(source),
        }
    }
}
