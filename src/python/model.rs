//! `spanscope.Model`: a checkpoint loaded once, then `predict` and `explain` as the CLI's
//! `predict` and `heads` compute them. The GIL is released while the model runs, so Python
//! threads (a web server, a data loader) go on meanwhile.

use std::path::{Path, PathBuf};
use std::sync::mpsc;

use candle_core::{DType, Device};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyString;

use super::errors::model_error;
use super::records::{self, to_python};
use crate::data::text::words;
use crate::data::wordpiece::WordPieces;
use crate::data::Sentence;
use crate::explain::Fusion;
use crate::model::aspert::{Aspert, ModelConfig};
use crate::model::checkpoint;
use crate::model::decode;
use crate::model::device::DeviceSpec;

/// Directory name of the bundled model: in the package (`spanscope/models/`), or under
/// `models/` of the source tree a development build comes from.
const BUNDLED_MODEL: &str = "conll04-aspert-minilm";

/// Environment variable naming the model to use instead of the bundled one (as for the CLI).
const MODEL_VARIABLE: &str = "SPANSCOPE_MODEL";

/// Sentences predicted between two checks for Ctrl-C, as the CLI's progress updates.
const CHUNK: usize = 64;

/// A spanscope checkpoint, loaded on a device.
#[pyclass(module = "spanscope", frozen)]
pub struct Model {
    model: Aspert,
    config: ModelConfig,
    pieces: WordPieces,
    device: Device,
    path: PathBuf,
}

#[pymethods]
impl Model {
    /// Loads a spanscope checkpoint directory; `None` loads `$SPANSCOPE_MODEL`, else the
    /// bundled model (CoNLL04 entities and relations). `device` is "auto" (the first CUDA GPU
    /// in a CUDA build that finds one, else the CPU), "cpu", "cuda" or "cuda:N".
    #[staticmethod]
    #[pyo3(signature = (path = None, device = "auto"))]
    fn load(py: Python<'_>, path: Option<PathBuf>, device: &str) -> PyResult<Self> {
        let path = match path {
            Some(path) => path,
            None => default_model(py)?,
        };
        if !path.join("spanscope.json").is_file() {
            return Err(model_error_text(format!(
                "{} is not a spanscope checkpoint (no spanscope.json)",
                path.display()
            )));
        }
        let device = open_device(device)?;
        let loaded = py.detach(|| checkpoint::load(&path, &device, DType::F32));
        let (model, config, pieces, _types) =
            loaded.map_err(|e| model_error(&format!("loading model {}", path.display()), &e))?;
        Ok(Self { model, config, pieces, device, path })
    }

    /// The model's entities and relations for each record, as SpERT dicts in input order.
    ///
    /// `records` is a list of SpERT records (dicts; their `tokens` are read, gold `entities`
    /// and `relations` ignored, every other key kept) or of token lists. Each result has
    /// `tokens`, `entities` and `relations` (each with `score` and `"source": "model"`), then
    /// the record's other keys: the records `spanscope predict` writes, key for key.
    /// Raises `DataError` naming every bad record.
    #[pyo3(signature = (records, batch_size = 8))]
    fn predict<'py>(
        &self,
        py: Python<'py>,
        records: &Bound<'py, PyAny>,
        batch_size: usize,
    ) -> PyResult<Vec<Bound<'py, PyAny>>> {
        if batch_size == 0 {
            return Err(PyValueError::new_err("batch_size must be at least 1"));
        }
        let sentences = records::sentences(py, records)?;
        let mut results = Vec::with_capacity(sentences.len());
        // The model runs a chunk ahead on its own thread while this one, holding the GIL,
        // turns the last chunk into Python objects: on a GPU that conversion is a tenth of
        // the time, and done in turn it would leave the device idle.
        let (tx, rx) = mpsc::sync_channel::<candle_core::Result<Vec<serde_json::Value>>>(1);
        std::thread::scope(|scope| -> PyResult<()> {
            scope.spawn(move || {
                for chunk in sentences.chunks(CHUNK) {
                    let annotated = self.annotate(chunk, batch_size);
                    let failed = annotated.is_err();
                    if tx.send(annotated).is_err() || failed {
                        return;
                    }
                }
            });
            let mut rx = Some(rx);
            loop {
                let receiver = rx.take().expect("the receiver is put back after each chunk");
                let (next, receiver) = py.detach(move || (receiver.recv(), receiver));
                let Ok(annotated) = next else { return Ok(()) }; // every chunk done
                let annotated = annotated.map_err(|e| model_error("predicting", &e))?;
                for value in &annotated {
                    results.push(to_python(py, value)?);
                }
                // A Ctrl-C (or an error above) drops the receiver: the model thread stops at
                // its next chunk.
                py.check_signals()?;
                rx = Some(receiver);
            }
        })?;
        Ok(results)
    }

    /// The attention contribution f_a of the span `(start, end)` (word indices, end
    /// exclusive) of `tokens` (a list of words, or a text split into words as `spanscope heads
    /// --text` does): `{"layers": L, "heads": H, "contribution": [[...H values] x L]}`, the
    /// numbers `spanscope heads --json` prints. `theta` and `fusion` default to the model's.
    #[pyo3(signature = (tokens, span, theta = None, fusion = None))]
    fn explain<'py>(
        &self,
        py: Python<'py>,
        tokens: &Bound<'py, PyAny>,
        span: &Bound<'py, PyAny>,
        theta: Option<f32>,
        fusion: Option<&str>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let words: Vec<String> = match tokens.cast::<PyString>() {
            Ok(text) => words(&text.to_cow()?),
            Err(_) => tokens
                .extract()
                .map_err(|_| PyValueError::new_err("tokens must be a str or a list of str"))?,
        };
        if words.is_empty() {
            return Err(PyValueError::new_err("the sentence has no words"));
        }
        let (start, end) = records::span(span, words.len())?;
        let theta = theta.unwrap_or(self.config.theta);
        let fusion = match fusion {
            Some(name) => {
                name.parse::<Fusion>().map_err(|e| PyValueError::new_err(e.to_string()))?
            }
            None => self.config.fusion,
        };
        let contribution = py
            .detach(|| {
                decode::explain_span_with_encoder(
                    self.model.encoder(),
                    &self.pieces,
                    &words,
                    start,
                    end,
                    theta,
                    fusion,
                )
            })
            .map_err(|e| model_error("explaining", &e))?;
        let value =
            serde_json::to_value(&contribution).map_err(|e| model_error("explaining", &e))?;
        to_python(py, &value)
    }

    /// The checkpoint directory.
    #[getter]
    fn path(&self) -> PathBuf {
        self.path.clone()
    }

    /// Where the model runs: "cpu" or "cuda:N".
    #[getter]
    fn device(&self) -> String {
        match self.device.location() {
            candle_core::DeviceLocation::Cuda { gpu_id } => format!("cuda:{gpu_id}"),
            _ => "cpu".into(),
        }
    }

    /// The entity type names, in the model's order.
    #[getter]
    fn entity_types(&self) -> Vec<String> {
        self.config.entity_types.clone()
    }

    /// The relation type names, in the model's order.
    #[getter]
    fn relation_types(&self) -> Vec<String> {
        self.config.relation_types.clone()
    }

    fn __repr__(&self) -> String {
        format!("<spanscope.Model {} on {}>", self.path.display(), self.device())
    }
}

impl Model {
    /// What `spanscope predict` writes for `sentences`: the prediction, with each input's
    /// extra keys, as JSON.
    fn annotate(
        &self,
        sentences: &[Sentence],
        batch_size: usize,
    ) -> candle_core::Result<Vec<serde_json::Value>> {
        let predictions =
            decode::predict(&self.model, &self.pieces, sentences, batch_size, &self.device)?;
        sentences
            .iter()
            .zip(predictions)
            .map(|(sentence, prediction)| {
                let mut predicted = prediction.to_sentence(&sentence.tokens);
                predicted.extra = sentence.extra.clone();
                serde_json::to_value(&predicted).map_err(candle_core::Error::wrap)
            })
            .collect()
    }
}

/// `device="auto"` is the first CUDA GPU when this build has CUDA and finds one, else the CPU.
fn open_device(name: &str) -> PyResult<Device> {
    if name.trim().eq_ignore_ascii_case("auto") {
        if cfg!(feature = "cuda") {
            if let Ok(device) = DeviceSpec::Cuda(0).open() {
                return Ok(device);
            }
        }
        return Ok(Device::Cpu);
    }
    let spec: DeviceSpec = name
        .parse()
        .map_err(|e: crate::model::device::BadDevice| PyValueError::new_err(e.to_string()))?;
    spec.open().map_err(|e| model_error(&format!("opening device {spec}"), &e))
}

/// `$SPANSCOPE_MODEL`, else the model inside the installed package, else the source tree's.
fn default_model(py: Python<'_>) -> PyResult<PathBuf> {
    if let Some(dir) = std::env::var_os(MODEL_VARIABLE) {
        return Ok(PathBuf::from(dir));
    }
    let mut candidates = Vec::new();
    let package = py.import("spanscope")?;
    if let Ok(file) = package.getattr("__file__")?.extract::<PathBuf>() {
        if let Some(dir) = file.parent() {
            candidates.push(dir.join("models").join(BUNDLED_MODEL));
        }
    }
    candidates.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("models").join(BUNDLED_MODEL));
    for dir in &candidates {
        if dir.join("spanscope.json").is_file() {
            return Ok(dir.clone());
        }
    }
    Err(model_error_text(format!(
        "no model given and none bundled: pass a spanscope checkpoint directory to \
         Model.load (`spanscope train` makes one); looked in {}",
        candidates.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
    )))
}

fn model_error_text(message: String) -> PyErr {
    super::errors::ModelError::new_err(message)
}
