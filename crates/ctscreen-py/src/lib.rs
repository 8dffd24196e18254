//! Python bindings of `ctscreen`: argument conversion, GIL release and error mapping
//! over the core crate, nothing more. Built by maturin into `ctscreen._ctscreen`.
use pyo3::prelude::*;

mod detect;
mod dicos;
mod errors;
mod geometry;
mod io;
mod json;
mod phantom;
mod project;
mod recon;
mod run;
mod scanner;
mod segment;
mod volume;

#[pymodule]
fn _ctscreen(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    volume::register(m)?;
    geometry::register(m)?;
    project::register(m)?;
    io::register(m)?;
    phantom::register(m)?;
    scanner::register(m)?;
    recon::register(m)?;
    detect::register(m)?;
    segment::register(m)?;
    dicos::register(m)?;
    Ok(())
}
