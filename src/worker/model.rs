//! The model worker: a thread that owns the model, so that the UI thread never waits on it.
//!
//! The UI sends requests ([`InferenceWorker::predict`], [`InferenceWorker::inspect`], ...) and
//! hears back through the `notify` callback given to [`InferenceWorker::spawn`], one
//! [`InferenceReply`] at a time. Between two units of work the thread drains its channel: the
//! newest inspect request supersedes older ones (which get no reply) and is served before any
//! further prediction, and so does the newest explain request, after it; predictions go in
//! small batches ([`CPU_BATCH`], [`CUDA_BATCH`]), so an inspect waits at most one.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, TryRecvError};
use std::sync::Arc;

use candle_core::{DType, Device};
use serde_json::Value;

use crate::data::wordpiece::WordPieces;
use crate::data::{Sentence, Types};
use crate::explain::prediction::Target;
use crate::explain::Contribution;
use crate::model::aspert::Aspert;
use crate::model::checkpoint;
use crate::model::decode::{inspect_span, predict};
use crate::model::device::DeviceSpec;
use crate::worker::{self, Worker};

use super::explanation::{explain, Explanation, Wanted};

/// The loaded model, as the status line and the inspector describe it.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelInfo {
    /// The checkpoint directory's name; predictions carry it under `"model"`.
    pub name: String,
    /// The checkpoint directory.
    pub dir: PathBuf,
    /// Where the model runs, e.g. `cpu` or `cuda:0`.
    pub device: String,
    /// The checkpoint's entity and relation types.
    pub types: Types,
    /// The model's entity types, in classifier order.
    pub entity_types: Vec<String>,
    /// Encoder layers (rows of the f_a heatmap).
    pub layers: usize,
    /// Attention heads per layer (columns of the f_a heatmap).
    pub heads: usize,
    /// Counts successful loads: every [`InferenceReply::Predicted`] made by this model carries
    /// this number.
    pub generation: u64,
}

/// What the model says about one span.
#[derive(Debug, Clone, PartialEq)]
pub struct Inspection {
    /// First word.
    pub start: usize,
    /// One past the last word.
    pub end: usize,
    /// f_a of the span, `layers x heads`.
    pub contribution: Contribution,
    /// `("none", p)` first, then each entity type with its probability.
    pub probabilities: Vec<(String, f32)>,
}

/// A message from the worker to the UI.
#[derive(Debug, Clone, PartialEq)]
pub enum InferenceReply {
    /// A model is loaded and serves every request from now on.
    Ready(ModelInfo),
    /// The checkpoint could not be loaded; a model loaded before, if any, stays in use.
    LoadFailed {
        /// The checkpoint directory asked for.
        dir: PathBuf,
        /// Why, naming the file.
        error: String,
    },
    /// The model's annotation of one sentence.
    Predicted {
        /// The document asked for.
        doc: u64,
        /// The sentence's index, as given.
        sentence: usize,
        /// The generation of the model that predicted (see [`ModelInfo::generation`]).
        generation: u64,
        /// The given tokens with the model's entities and relations, each carrying
        /// `"source": "model"`, `"score"` and `"model"` (the model's name).
        annotation: Sentence,
        /// What the model could not do for this sentence (one longer than the encoder is
        /// predicted in windows, and pairs further apart than a window get no relation), for
        /// the reviewer to see; empty for almost every sentence.
        notes: Vec<String>,
    },
    /// The answer to an inspect request that was not superseded.
    Inspected {
        /// The request number, as given.
        request: u64,
        /// The inspection, or why there is none.
        result: Result<Inspection, String>,
    },
    /// The answer to an explain request that was not superseded.
    Explained {
        /// The request number, as given.
        request: u64,
        /// The parts asked for, or why there are none (boxed: it is much larger than the
        /// other replies).
        result: Result<Box<Explanation>, String>,
    },
    /// The model failed on one sentence; the others go on.
    Failed {
        /// The document asked for.
        doc: u64,
        /// The sentence's index, as given.
        sentence: usize,
        /// Why.
        error: String,
    },
    /// Nothing is left to do.
    Idle,
}

/// Requests from the UI thread to the worker thread.
enum Request {
    Predict { doc: u64, sentences: Vec<(usize, Vec<String>)> },
    Inspect(InspectRequest),
    Explain(ExplainRequest),
    Cancel(u64),
    Reload(PathBuf),
    Stop,
}

struct InspectRequest {
    request: u64,
    tokens: Vec<String>,
    start: usize,
    end: usize,
}

struct ExplainRequest {
    request: u64,
    tokens: Vec<String>,
    target: Target,
    wanted: Wanted,
}

/// One sentence to predict.
struct Unit {
    doc: u64,
    sentence: usize,
    tokens: Vec<String>,
}

/// The handle the UI keeps: requests go in, replies come out through `notify`.
pub struct InferenceWorker {
    worker: Worker<Request>,
    queued: Arc<AtomicUsize>,
}

impl InferenceWorker {
    /// Starts the thread, which loads the checkpoint in `model_dir` on `device` and replies
    /// [`InferenceReply::Ready`] or [`InferenceReply::LoadFailed`].
    pub fn spawn(
        model_dir: PathBuf,
        device: DeviceSpec,
        notify: impl Fn(InferenceReply) + Send + 'static,
    ) -> InferenceWorker {
        let queued = Arc::new(AtomicUsize::new(0));
        let state = Arc::clone(&queued);
        let worker = Worker::spawn("spanscope-inference", move |inbox| {
            let mut worker = State {
                inbox,
                notify: Box::new(notify),
                queued: state,
                device,
                model: None,
                generation: 0,
                inspect: None,
                explain: None,
                units: VecDeque::new(),
                stopping: false,
                worked: false,
            };
            worker.load(&model_dir);
            worker.run();
        });
        InferenceWorker { worker, queued }
    }

    /// Queues `sentences` of document `doc` (index in the document, tokens) for prediction;
    /// each gets a [`InferenceReply::Predicted`] or [`InferenceReply::Failed`].
    pub fn predict(&self, doc: u64, sentences: Vec<(usize, Vec<String>)>) {
        if sentences.is_empty() {
            return;
        }
        self.queued.fetch_add(sentences.len(), Ordering::SeqCst);
        let n = sentences.len();
        if !self.worker.send(Request::Predict { doc, sentences }) {
            self.queued.fetch_sub(n, Ordering::SeqCst);
        }
    }

    /// Asks for f_a and class probabilities of words `[start, end)` of `tokens`, ahead of any
    /// queued prediction. A later inspect before this one is served supersedes it.
    pub fn inspect(&self, request: u64, tokens: Vec<String>, start: usize, end: usize) {
        self.worker.send(Request::Inspect(InspectRequest { request, tokens, start, end }));
    }

    /// Asks for the `wanted` parts of the explanation of `target` in `tokens`, after any
    /// inspect and ahead of any queued prediction. A later explain request before this one is
    /// served supersedes it.
    pub fn explain(&self, request: u64, tokens: Vec<String>, target: Target, wanted: Wanted) {
        let request = ExplainRequest { request, tokens, target, wanted };
        self.worker.send(Request::Explain(request));
    }

    /// Drops the queued predictions of `doc` (a batch already running still replies).
    pub fn cancel(&self, doc: u64) {
        self.worker.send(Request::Cancel(doc));
    }

    /// Swaps to the checkpoint in `model_dir`; queued predictions stay queued and are made by
    /// the new model, with a new generation. If it fails to load, the old model stays.
    pub fn reload(&self, model_dir: PathBuf) {
        self.worker.send(Request::Reload(model_dir));
    }

    /// Sentences waiting for prediction, for the status line.
    pub fn queued(&self) -> usize {
        self.queued.load(Ordering::SeqCst)
    }
}

impl Drop for InferenceWorker {
    /// Stops the thread after the unit it is working on; the worker then waits for it.
    fn drop(&mut self) {
        self.worker.send(Request::Stop);
    }
}

/// A loaded checkpoint.
struct Loaded {
    model: Aspert,
    pieces: WordPieces,
    device: Device,
    info: ModelInfo,
}

/// The thread's state.
struct State {
    inbox: Receiver<Request>,
    notify: Box<dyn Fn(InferenceReply) + Send>,
    queued: Arc<AtomicUsize>,
    device: DeviceSpec,
    model: Option<Loaded>,
    generation: u64,
    /// The newest inspect request not yet served.
    inspect: Option<InspectRequest>,
    /// The newest explain request not yet served.
    explain: Option<ExplainRequest>,
    units: VecDeque<Unit>,
    stopping: bool,
    /// Whether work was done (or dropped) since the last `Idle`.
    worked: bool,
}

impl State {
    fn run(&mut self) {
        loop {
            self.drain();
            if self.stopping {
                return;
            }
            if let Some(request) = self.inspect.take() {
                self.serve_inspect(request);
            } else if let Some(request) = self.explain.take() {
                self.serve_explain(request);
            } else if !self.units.is_empty() {
                self.serve_batch();
            } else {
                if std::mem::take(&mut self.worked) {
                    (self.notify)(InferenceReply::Idle);
                }
                match self.inbox.recv() {
                    Ok(request) => self.accept(request),
                    Err(_) => return,
                }
            }
        }
    }

    /// Takes every request waiting in the channel.
    fn drain(&mut self) {
        loop {
            match self.inbox.try_recv() {
                Ok(request) => self.accept(request),
                Err(TryRecvError::Empty) => return,
                Err(TryRecvError::Disconnected) => {
                    self.stopping = true;
                    return;
                }
            }
        }
    }

    fn accept(&mut self, request: Request) {
        match request {
            Request::Predict { doc, sentences } => {
                self.units.extend(sentences.into_iter().map(|(sentence, tokens)| Unit {
                    doc,
                    sentence,
                    tokens,
                }))
            }
            Request::Inspect(request) => self.inspect = Some(request),
            Request::Explain(request) => self.explain = Some(request),
            Request::Cancel(doc) => {
                let before = self.units.len();
                self.units.retain(|u| u.doc != doc);
                let dropped = before - self.units.len();
                self.queued.fetch_sub(dropped, Ordering::SeqCst);
                self.worked |= dropped > 0;
            }
            Request::Reload(dir) => self.load(&dir),
            Request::Stop => self.stopping = true,
        }
    }

    /// Loads `dir`, replacing the current model only on success.
    fn load(&mut self, dir: &Path) {
        let generation = self.generation + 1;
        let loaded = guarded(|| load_checkpoint(dir, self.device, generation));
        match loaded {
            Ok(loaded) => {
                self.generation = generation;
                (self.notify)(InferenceReply::Ready(loaded.info.clone()));
                self.model = Some(loaded);
            }
            Err(error) => {
                (self.notify)(InferenceReply::LoadFailed { dir: dir.to_path_buf(), error })
            }
        }
    }

    fn serve_inspect(&mut self, request: InspectRequest) {
        self.worked = true;
        let InspectRequest { request, tokens, start, end } = request;
        let result = match &self.model {
            Some(loaded) => guarded(|| inspect(loaded, &tokens, start, end)),
            None => Err(NO_MODEL.to_string()),
        };
        (self.notify)(InferenceReply::Inspected { request, result });
    }

    fn serve_explain(&mut self, request: ExplainRequest) {
        self.worked = true;
        let ExplainRequest { request, tokens, target, wanted } = request;
        let result = match &self.model {
            Some(loaded) => {
                guarded(|| explain(&loaded.model, &loaded.pieces, &tokens, target, &wanted))
                    .map(Box::new)
            }
            None => Err(NO_MODEL.to_string()),
        };
        (self.notify)(InferenceReply::Explained { request, result });
    }

    /// Predicts the next few sentences; when a batch fails, each sentence is tried alone so
    /// that only the failing one replies `Failed`.
    fn serve_batch(&mut self) {
        self.worked = true;
        let size = match &self.model {
            Some(loaded) if loaded.device.is_cuda() => CUDA_BATCH,
            _ => CPU_BATCH,
        };
        let batch: Vec<Unit> = self.units.drain(..size.min(self.units.len())).collect();
        let replies = match &self.model {
            None => batch.iter().map(|u| failed(u, NO_MODEL.to_string())).collect(),
            Some(loaded) => match guarded(|| annotate(loaded, &batch)) {
                Ok(sentences) => batch
                    .iter()
                    .zip(sentences)
                    .map(|(u, annotation)| predicted(u, self.generation, annotation))
                    .collect(),
                Err(error) if batch.len() == 1 => vec![failed(&batch[0], error)],
                Err(_) => batch
                    .iter()
                    .map(|u| match guarded(|| annotate(loaded, std::slice::from_ref(u))) {
                        Ok(mut one) => predicted(u, self.generation, one.remove(0)),
                        Err(error) => failed(u, error),
                    })
                    .collect(),
            },
        };
        self.queued.fetch_sub(batch.len(), Ordering::SeqCst);
        for reply in replies {
            (self.notify)(reply);
        }
    }
}

/// Sentences per forward pass on a GPU. An inspect never waits behind more than one batch.
pub const CUDA_BATCH: usize = 8;

/// Sentences per forward pass on the CPU: 4 predicted faster than one at a time or eights on
/// the development machine, and keeps an inspect's wait short (docs/BENCHMARKS.md, "Figures
/// that were code comments").
pub const CPU_BATCH: usize = 4;

const NO_MODEL: &str = "no model is loaded";

/// Runs `work`, turning an error or a panic into a message.
fn guarded<T, E: std::fmt::Display>(work: impl FnOnce() -> Result<T, E>) -> Result<T, String> {
    match worker::guarded(work) {
        Ok(result) => result.map_err(|e| e.to_string()),
        Err(panic) => Err(format!("the model panicked: {panic}")),
    }
}

/// Loads a checkpoint as `spanscope predict` does: f32 weights, on the CPU or the GPU.
fn load_checkpoint(
    dir: &Path,
    device: DeviceSpec,
    generation: u64,
) -> Result<Loaded, checkpoint::CheckpointError> {
    let opened = device.open()?;
    let (model, config, pieces, types) = checkpoint::load(dir, &opened, DType::F32)?;
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| dir.display().to_string());
    let info = ModelInfo {
        name,
        dir: dir.to_path_buf(),
        device: DeviceSpec::name_of(&opened),
        types,
        entity_types: config.entity_types.clone(),
        layers: config.encoder.num_hidden_layers,
        heads: config.encoder.num_attention_heads,
        generation,
    };
    Ok(Loaded { model, pieces, device: opened, info })
}

/// The model's annotations of `units`, each entity and relation marked with the model's name,
/// with the prediction's notes.
fn annotate(loaded: &Loaded, units: &[Unit]) -> candle_core::Result<Vec<(Sentence, Vec<String>)>> {
    let sentences: Vec<Sentence> =
        units.iter().map(|u| Sentence::from_tokens(u.tokens.clone())).collect();
    let predictions =
        predict(&loaded.model, &loaded.pieces, &sentences, units.len(), &loaded.device)?;
    let name = Value::from(loaded.info.name.as_str());
    Ok(units
        .iter()
        .zip(predictions)
        .map(|(u, p)| {
            let mut s = p.to_sentence(&u.tokens);
            let extras = s.entities.iter_mut().map(|e| &mut e.extra);
            for extra in extras.chain(s.relations.iter_mut().map(|r| &mut r.extra)) {
                extra.insert("model".into(), name.clone());
            }
            (s, p.notes)
        })
        .collect())
}

fn inspect(
    loaded: &Loaded,
    tokens: &[String],
    start: usize,
    end: usize,
) -> candle_core::Result<Inspection> {
    let found = inspect_span(&loaded.model, &loaded.pieces, tokens, start, end)?;
    let names = std::iter::once("none").chain(loaded.info.entity_types.iter().map(String::as_str));
    let probabilities =
        names.zip(found.probabilities).map(|(name, p)| (name.to_string(), p)).collect();
    Ok(Inspection { start, end, contribution: found.contribution, probabilities })
}

fn predicted(
    unit: &Unit,
    generation: u64,
    (annotation, notes): (Sentence, Vec<String>),
) -> InferenceReply {
    InferenceReply::Predicted {
        doc: unit.doc,
        sentence: unit.sentence,
        generation,
        annotation,
        notes,
    }
}

fn failed(unit: &Unit, error: String) -> InferenceReply {
    InferenceReply::Failed { doc: unit.doc, sentence: unit.sentence, error }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_and_panics_become_messages() {
        assert_eq!(guarded(|| Ok::<_, String>(3)), Ok(3));
        assert_eq!(guarded(|| Err::<(), _>("bad span")), Err("bad span".to_string()));
        let panicked = guarded(|| -> Result<(), String> { panic!("index {} out of range", 7) });
        assert_eq!(panicked, Err("the model panicked: index 7 out of range".to_string()));
        let panicked = guarded(|| -> Result<(), String> { panic!("plain") });
        assert_eq!(panicked, Err("the model panicked: plain".to_string()));
    }
}
