//! Python data (dicts, lists, numbers, strings) from Rust values, through JSON.
use pyo3::prelude::*;

/// `json.loads(text)`.
pub(crate) fn json_to_py<'py>(py: Python<'py>, text: &str) -> PyResult<Bound<'py, PyAny>> {
    py.import("json")?.call_method1("loads", (text,))
}

/// A serialisable value as Python data (`ValueError` if it cannot be serialised, e.g.
/// a non-finite float).
pub(crate) fn to_py_data<'py, T: serde::Serialize>(
    py: Python<'py>,
    value: &T,
) -> PyResult<Bound<'py, PyAny>> {
    let text = serde_json::to_string(value)
        .map_err(|e| pyo3::exceptions::PyValueError::new_err(e.to_string()))?;
    json_to_py(py, &text)
}
