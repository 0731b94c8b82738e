//! Dataset files from Python: `validate`, and [`Problem`], one finding as the CLI prints it.

use std::path::PathBuf;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use super::errors::from_data_error;
use crate::data::{validate_file, validate_types_file, DataError, ErrorKind, Part, Place, Types};

/// One problem of a dataset or of records: where it is and why. `str(problem)` is the line
/// `spanscope validate` prints.
#[pyclass(module = "spanscope", frozen, get_all)]
#[derive(Debug, Clone)]
pub struct Problem {
    /// The file, or None for records passed in memory.
    pub file: Option<String>,
    /// The record's 0-based index, when the problem is in one.
    pub record: Option<usize>,
    /// The 1-based line: of the record in JSON Lines, of the syntax error in JSON.
    pub line: Option<usize>,
    /// The token, entity or relation the problem is about: "token 3", "entity 2", ...
    pub part: Option<String>,
    /// "io", "utf8", "syntax", "structure", "content", "format" or "tokenizer".
    pub kind: &'static str,
    /// The reason, in words.
    pub reason: String,
    /// The whole message: `FILE: record N: reason` (without `FILE: ` in memory).
    pub message: String,
}

#[pymethods]
impl Problem {
    fn __str__(&self) -> &str {
        &self.message
    }

    fn __repr__(&self) -> String {
        format!("<Problem {:?}>", self.message)
    }
}

impl Problem {
    /// A problem of a file on disk.
    pub fn from_file(err: &DataError) -> Self {
        Self::new(err, Some(err.file.display().to_string()), err.to_string())
    }

    /// A problem of a record passed in memory (its `file` is a placeholder, not shown).
    pub fn in_memory(err: &DataError) -> Self {
        Self::new(err, None, format!("{}{}", err.place, err.reason))
    }

    fn new(err: &DataError, file: Option<String>, message: String) -> Self {
        let (record, line, part) = match err.place {
            Place::File | Place::Byte { .. } => (None, None, None),
            Place::Line { line, .. } => (None, Some(line), None),
            Place::Record { index, line, part } => (Some(index), line, part.map(part_name)),
        };
        Self {
            file,
            record,
            line,
            part,
            kind: kind_name(err.kind),
            reason: err.reason.clone(),
            message,
        }
    }
}

fn part_name(part: Part) -> String {
    match part {
        Part::Token(i) => format!("token {i}"),
        Part::Entity(i) => format!("entity {i}"),
        Part::Relation(i) => format!("relation {i}"),
    }
}

fn kind_name(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::Io => "io",
        ErrorKind::Utf8 => "utf8",
        ErrorKind::Syntax => "syntax",
        ErrorKind::Structure => "structure",
        ErrorKind::Content => "content",
        ErrorKind::Format => "format",
        ErrorKind::Tokenizer => "tokenizer",
    }
}

/// Every problem of SpERT datasets (`.json`, `.jsonl`) and, when `types` names a types file,
/// of that file and of labels it does not declare, in the order `spanscope validate` prints
/// them. An empty list means the data is clean.
#[pyfunction]
#[pyo3(signature = (*paths, types = None))]
pub fn validate(
    py: Python<'_>,
    paths: Vec<PathBuf>,
    types: Option<PathBuf>,
) -> PyResult<Vec<Problem>> {
    if paths.is_empty() {
        return Err(PyValueError::new_err("validate() needs at least one dataset file"));
    }
    let found = py.detach(|| {
        let mut problems = Vec::new();
        let types = match &types {
            Some(path) => {
                let found = validate_types_file(path);
                let usable = found.is_empty();
                problems.extend(found);
                if usable {
                    Some(Types::read(path))
                } else {
                    None
                }
            }
            None => None,
        };
        let types = types.transpose()?;
        for path in &paths {
            problems.extend(validate_file(path, types.as_ref()));
        }
        Ok(problems)
    });
    match found {
        Ok(problems) => Ok(problems.iter().map(Problem::from_file).collect()),
        Err(err) => Err(from_data_error(py, &err)),
    }
}
