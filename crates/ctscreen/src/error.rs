//! The one error type of the core crate.

use std::path::PathBuf;

/// Everything that can go wrong in `ctscreen`. Messages name the offending value and
/// what was expected, so they can be shown to a user as they are.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A scalar or vector parameter is out of its valid range.
    #[error("invalid {name}: {value} (expected {expected})")]
    InvalidParameter {
        /// The parameter, as the API names it (`source_to_detector_mm`, `spacing`, …).
        name: String,
        /// The value that was given, formatted.
        value: String,
        /// What would have been accepted.
        expected: String,
    },
    /// Two arrays (or an array and a geometry) disagree in shape.
    #[error("shape mismatch in {what}: expected {expected}, found {found}")]
    ShapeMismatch {
        /// What was being compared.
        what: String,
        /// The shape that was expected.
        expected: String,
        /// The shape that was found.
        found: String,
    },
    /// An input array holds NaN or infinite values where finite values are required.
    #[error("{what} contains {count} non-finite value(s) (NaN or ±inf); expected all finite")]
    NonFinite {
        /// Which input.
        what: String,
        /// How many values are not finite.
        count: usize,
    },
    /// An operating-system error while reading or writing a file.
    #[error("{path}: {source}")]
    Io {
        /// The file involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A file is malformed: truncated, wrong magic, inconsistent header.
    #[error("{path}: {message}")]
    Format {
        /// The file involved.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// A file or request uses a feature this library does not support.
    #[error("{path}: unsupported {what}")]
    Unsupported {
        /// The file involved (empty when not about a file).
        path: PathBuf,
        /// What is unsupported, with its value.
        what: String,
    },
    /// The output of an operation would not fit in the memory allowed.
    #[error("{what} would need {bytes} bytes, more than the {limit} bytes allowed (set CTSCREEN_MEMORY_LIMIT to change the limit)")]
    TooLarge {
        /// What would have been allocated.
        what: String,
        /// Its size in bytes.
        bytes: u128,
        /// The limit in force, in bytes.
        limit: u128,
    },
    /// The operation was cancelled through its [`crate::progress::Progress`] handle.
    #[error("cancelled")]
    Cancelled,
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Builds [`Error::InvalidParameter`].
    pub fn invalid(
        name: impl Into<String>,
        value: impl std::fmt::Display,
        expected: impl Into<String>,
    ) -> Self {
        Error::InvalidParameter {
            name: name.into(),
            value: value.to_string(),
            expected: expected.into(),
        }
    }

    /// Builds [`Error::ShapeMismatch`] from two debug-printable shapes.
    pub fn shape(
        what: impl Into<String>,
        expected: impl std::fmt::Debug,
        found: impl std::fmt::Debug,
    ) -> Self {
        Error::ShapeMismatch {
            what: what.into(),
            expected: format!("{expected:?}"),
            found: format!("{found:?}"),
        }
    }

    /// Builds [`Error::Format`].
    pub fn format(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Error::Format {
            path: path.into(),
            message: message.into(),
        }
    }

    /// Builds [`Error::Io`].
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    /// True for errors about files (I/O, format, unsupported features): Python maps
    /// these to `OSError`, the rest to `ValueError`.
    pub fn is_file_error(&self) -> bool {
        matches!(
            self,
            Error::Io { .. } | Error::Format { .. } | Error::Unsupported { .. }
        )
    }
}
