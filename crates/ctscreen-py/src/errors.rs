//! Maps the core's errors to Python exceptions: file problems become `OSError`,
//! everything else `ValueError`; the message is the core's.
use pyo3::exceptions::{PyKeyboardInterrupt, PyOSError, PyValueError};
use pyo3::PyErr;

/// Converts a core error into the matching Python exception.
pub fn to_py(err: ctscreen::Error) -> PyErr {
    match err {
        ctscreen::Error::Cancelled => PyKeyboardInterrupt::new_err("cancelled"),
        e if e.is_file_error() => PyOSError::new_err(e.to_string()),
        e => PyValueError::new_err(e.to_string()),
    }
}

/// `Result` extension: `.py()?` converts the core error.
pub trait IntoPyResult<T> {
    /// Converts the error side to a Python exception.
    fn py(self) -> pyo3::PyResult<T>;
}

impl<T> IntoPyResult<T> for ctscreen::Result<T> {
    fn py(self) -> pyo3::PyResult<T> {
        self.map_err(to_py)
    }
}

/// Converts a core result.
pub fn to_result<T>(r: ctscreen::Result<T>) -> pyo3::PyResult<T> {
    r.map_err(to_py)
}
