//! Python exceptions: `SpanscopeError` and its kinds. A `DataError` carries where the problem
//! is (`file`, `record`, `line`, `part`), what kind it is and the `reason`, as the CLI prints
//! them, so a caller can react to it without parsing the message.

use pyo3::create_exception;
use pyo3::exceptions::{PyException, PyUserWarning};
use pyo3::prelude::*;

use super::dataset::Problem;
use crate::data::DataError as CrateDataError;

create_exception!(
    spanscope,
    SpanscopeError,
    PyException,
    "Base class of every error spanscope raises."
);
create_exception!(
    spanscope,
    DataError,
    SpanscopeError,
    "Bad input data: `file` (None for records passed in memory), `record` (0-based, or None), \
     `line`, `part` (e.g. 'entity 2'), `kind` and `reason`; `problems` lists every problem \
     found, the first one described by the other attributes."
);
create_exception!(
    spanscope,
    ModelError,
    SpanscopeError,
    "A model could not be loaded, or failed while it ran."
);

create_exception!(
    spanscope,
    ConversionWarning,
    PyUserWarning,
    "Something a format could not carry (the loss report `spanscope convert` prints)."
);

/// Adds the exception classes to the module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("SpanscopeError", py.get_type::<SpanscopeError>())?;
    m.add("DataError", py.get_type::<DataError>())?;
    m.add("ModelError", py.get_type::<ModelError>())?;
    m.add("ConversionWarning", py.get_type::<ConversionWarning>())?;
    Ok(())
}

/// A `DataError` for `problems` (at least one); the first one names the place.
pub fn data_error(py: Python<'_>, problems: Vec<Problem>) -> PyErr {
    let first = problems.first().cloned().expect("a data error has a problem");
    let err = DataError::new_err(first.message.clone());
    let value = err.value(py);
    let set = || -> PyResult<()> {
        value.setattr("file", first.file.clone())?;
        value.setattr("record", first.record)?;
        value.setattr("line", first.line)?;
        value.setattr("part", first.part.clone())?;
        value.setattr("kind", first.kind)?;
        value.setattr("reason", first.reason.clone())?;
        value.setattr("problems", problems)?;
        Ok(())
    };
    match set() {
        Ok(()) => err,
        Err(failed) => failed,
    }
}

/// A `DataError` from one of the crate's data errors (a file that could not be read, ...).
pub fn from_data_error(py: Python<'_>, err: &CrateDataError) -> PyErr {
    data_error(py, vec![Problem::from_file(err)])
}

/// A `ModelError` saying what failed, with the cause's chain.
pub fn model_error(doing: &str, err: &dyn std::error::Error) -> PyErr {
    let mut message = format!("{doing}: {err}");
    let mut source = err.source();
    while let Some(cause) = source {
        message.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    ModelError::new_err(message)
}
