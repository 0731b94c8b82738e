//! The `spanscope` Python module (feature `python`; maturin builds it, see pyproject.toml and
//! docs/PYTHON.md). The native part is `spanscope._spanscope`; `python/spanscope/` re-exports
//! it with type stubs.
//!
//! One file per area, mirroring the command line: [`model`] loads, predicts and explains,
//! [`dataset`] validates files, [`convert`] reads and writes other tools' formats,
//! [`records`] turns Python objects into SpERT records and back, [`errors`] maps the
//! crate's errors to Python exceptions. A new binding is a function in the matching file and
//! one line in [`native`].

mod convert;
mod dataset;
mod errors;
mod model;
mod records;

use pyo3::prelude::*;

/// The native module, imported as `spanscope._spanscope`.
#[pymodule]
#[pyo3(name = "_spanscope")]
fn native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    errors::register(m)?;
    m.add_class::<model::Model>()?;
    m.add_class::<dataset::Problem>()?;
    m.add_function(wrap_pyfunction!(dataset::validate, m)?)?;
    m.add_class::<convert::Loss>()?;
    m.add_class::<convert::Conversion>()?;
    m.add_function(wrap_pyfunction!(convert::convert, m)?)?;
    m.add_function(wrap_pyfunction!(convert::read, m)?)?;
    m.add_function(wrap_pyfunction!(convert::write, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
