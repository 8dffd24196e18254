//! Python bindings (placeholder while the core lands).
use pyo3::prelude::*;

#[pymodule]
fn _ctscreen(_m: &Bound<'_, PyModule>) -> PyResult<()> {
    Ok(())
}
