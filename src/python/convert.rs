//! Other tools' formats from Python: [`convert`] (file to file, as `spanscope convert`),
//! [`read`] and [`write`] (a file to SpERT dicts and back). What a format cannot carry comes
//! back as [`Loss`] entries and, as the CLI's report goes to standard error, is also raised as
//! a `ConversionWarning`, so nothing is dropped without a word.

use std::path::{Path, PathBuf};

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use super::errors::{from_data_error, ConversionWarning};
use super::records::{self, to_python};
use crate::data::formats::{self, Interchange, LossReport};
use crate::data::Sentence;

/// One kind of thing a conversion could not carry: when (`stage`: "read" or "write"), what
/// (`kind`, a snake_case name, and `description`), how often, and the first examples.
#[pyclass(module = "spanscope", frozen, get_all)]
#[derive(Debug, Clone)]
pub struct Loss {
    /// "read" (the input format's reader) or "write" (the output format's writer).
    pub stage: &'static str,
    /// The kind, e.g. "relation_not_carried", "token_split", "overlapping_entity".
    pub kind: String,
    /// The kind in words, as the CLI's report says it.
    pub description: &'static str,
    /// How many times it happened.
    pub count: usize,
    /// The first few, each saying where.
    pub examples: Vec<String>,
}

#[pymethods]
impl Loss {
    fn __str__(&self) -> String {
        let mut text = format!("{}: {} × {}", self.stage, self.count, self.description);
        for example in self.examples.iter().filter(|e| !e.is_empty()) {
            text.push_str("; e.g. ");
            text.push_str(example);
        }
        text
    }

    fn __repr__(&self) -> String {
        format!("<Loss {} {} × {}>", self.stage, self.count, self.kind)
    }
}

/// What [`convert`] did: the counts written and every loss, reading then writing.
#[pyclass(module = "spanscope", frozen, get_all)]
#[derive(Debug, Clone)]
pub struct Conversion {
    /// The input's format name (see `spanscope convert --help`).
    pub from_format: &'static str,
    /// The output's format name.
    pub to_format: &'static str,
    /// Sentences read (and written).
    pub sentences: usize,
    /// Entities read.
    pub entities: usize,
    /// Relations read.
    pub relations: usize,
    /// Everything lost or changed; empty when the conversion is exact.
    pub losses: Vec<Loss>,
}

#[pymethods]
impl Conversion {
    fn __str__(&self) -> String {
        let mut text = format!(
            "{} -> {}: {} sentences, {} entities, {} relations",
            self.from_format, self.to_format, self.sentences, self.entities, self.relations
        );
        if self.losses.is_empty() {
            text.push_str("; nothing lost");
        }
        for loss in &self.losses {
            text.push('\n');
            text.push_str(&loss.__str__());
        }
        text
    }

    fn __repr__(&self) -> String {
        format!(
            "<Conversion {} -> {}: {} sentences, {} losses>",
            self.from_format,
            self.to_format,
            self.sentences,
            self.losses.len()
        )
    }
}

/// Converts the dataset `input` into `output` (written atomically), as `spanscope convert`:
/// the formats from the names' extensions (a folder is brat) unless `from_format` /
/// `to_format` name them ("spert", "spert-jsonl", "brat", "dygie", "bio", "bilou",
/// "conll04", "doccano", "label-studio", "spacy"). Returns a `Conversion` with every loss;
/// losses are also warned about (`ConversionWarning`). Raises `DataError` for bad input.
#[pyfunction]
#[pyo3(signature = (input, output, from_format = None, to_format = None))]
pub fn convert(
    py: Python<'_>,
    input: PathBuf,
    output: PathBuf,
    from_format: Option<&str>,
    to_format: Option<&str>,
) -> PyResult<Conversion> {
    let from = format_of(&input, from_format, "from_format")?;
    let to = format_of(&output, to_format, "to_format")?;
    let (sentences, read_losses) =
        py.detach(|| formats::read(&input, from)).map_err(|e| from_data_error(py, &e))?;
    let write_losses = py
        .detach(|| formats::write(&output, to, &sentences))
        .map_err(|e| from_data_error(py, &e))?;
    let mut losses = losses("read", &read_losses);
    losses.extend(self::losses("write", &write_losses));
    let conversion = Conversion {
        from_format: from.name(),
        to_format: to.name(),
        sentences: sentences.len(),
        entities: sentences.iter().map(|s| s.entities.len()).sum(),
        relations: sentences.iter().map(|s| s.relations.len()).sum(),
        losses,
    };
    if !conversion.losses.is_empty() {
        warn(py, &format!("converting {}: {}", input.display(), conversion.__str__()))?;
    }
    Ok(conversion)
}

/// The records of the dataset `path` in any format `convert` reads, as SpERT dicts (the
/// records `spanscope convert IN out.json` would write). What the format could not carry
/// over is warned about (`ConversionWarning`). Raises `DataError` for bad input.
#[pyfunction]
#[pyo3(signature = (path, format = None))]
pub fn read<'py>(
    py: Python<'py>,
    path: PathBuf,
    format: Option<&str>,
) -> PyResult<Vec<Bound<'py, PyAny>>> {
    let from = format_of(&path, format, "format")?;
    let (sentences, report) =
        py.detach(|| formats::read(&path, from)).map_err(|e| from_data_error(py, &e))?;
    if !report.is_empty() {
        let what = joined(&losses("read", &report));
        warn(py, &format!("reading {} ({}):\n{what}", path.display(), from.name()))?;
    }
    sentences.iter().map(|sentence| sentence_to_python(py, sentence)).collect()
}

/// Writes SpERT records (dicts, as `read` and `Model.predict` return) to `path` in `format`
/// (from the extension unless given), atomically. Returns what the format could not hold
/// (also warned about). Raises `DataError` naming every bad record.
#[pyfunction]
#[pyo3(signature = (records, path, format = None))]
pub fn write(
    py: Python<'_>,
    records: &Bound<'_, PyAny>,
    path: PathBuf,
    format: Option<&str>,
) -> PyResult<Vec<Loss>> {
    let to = format_of(&path, format, "format")?;
    let sentences = records::sentences(py, records)?;
    let report =
        py.detach(|| formats::write(&path, to, &sentences)).map_err(|e| from_data_error(py, &e))?;
    let losses = losses("write", &report);
    if !losses.is_empty() {
        warn(py, &format!("writing {} ({}):\n{}", path.display(), to.name(), joined(&losses)))?;
    }
    Ok(losses)
}

fn format_of(path: &Path, given: Option<&str>, argument: &str) -> PyResult<Interchange> {
    match given {
        Some(name) => Interchange::parse_name(name),
        None => Interchange::for_path(path, &format!("{argument}=")),
    }
    .map_err(PyValueError::new_err)
}

fn losses(stage: &'static str, report: &LossReport) -> Vec<Loss> {
    report
        .losses
        .iter()
        .map(|loss| Loss {
            stage,
            kind: loss.kind.name(),
            description: loss.kind.describe(),
            count: loss.count,
            examples: loss.examples.clone(),
        })
        .collect()
}

fn joined(losses: &[Loss]) -> String {
    losses.iter().map(Loss::__str__).collect::<Vec<_>>().join("\n")
}

fn warn(py: Python<'_>, message: &str) -> PyResult<()> {
    let category = py.get_type::<ConversionWarning>();
    let message = std::ffi::CString::new(message.replace('\0', " "))
        .map_err(|e| PyValueError::new_err(e.to_string()))?;
    PyErr::warn(py, &category, &message, 1)
}

fn sentence_to_python<'py>(py: Python<'py>, sentence: &Sentence) -> PyResult<Bound<'py, PyAny>> {
    let value = serde_json::to_value(sentence).map_err(|e| PyValueError::new_err(e.to_string()))?;
    to_python(py, &value)
}
