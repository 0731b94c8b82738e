//! Incremental fine-tuning on reviewed sentences (docs/DESIGN.md §4): a copy of the current model
//! learns the sentences an expert reviewed, mixed with a sample of its original training data
//! so that it does not forget, and is then compared with the current model on reviewed
//! sentences it did not see.
//!
//! [`finetune`] never writes to the current checkpoint: it loads a trainable copy, writes the
//! candidate into a new directory, and removes that directory again when the run fails, is
//! cancelled or meets a NaN. Whether the candidate replaces the current model is the caller's
//! decision ([`FinetuneOutcome::not_worse`], or the user's override), made with
//! [`crate::model::versions::Versions::accept`]. Like the training loop it runs on the thread
//! that calls it, reports through a callback and stops when a flag is raised, so the workbench
//! can run it on a worker thread.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use candle_core::{DType, Device};
use serde::{Deserialize, Serialize};

use super::evaluate::{evaluate, EvalError, Evaluation, Prf};
use super::trainer::{
    self, EpochRecord, Progress, StepProgress, TrainConfig, TrainData, TrainError, TrainReport,
};
use crate::data::io::write_atomic;
use crate::data::{DataError, Sentence, Types};
use crate::model::checkpoint::{self, CheckpointError, Trainable};
use crate::model::decode::predict;
use crate::model::device::DeviceSpec;
use crate::model::versions::{Score, Scores, VersionRecord};

mod flow;
mod selection;
mod warm;

pub use crate::data::annotation::{is_reviewed, reviewed_sentences, REVIEWED_KEY};
pub use flow::{Decision, FinetuneFlow};
pub use selection::{draw, replay_sample, split_held_out};
pub use warm::Prepared;

/// The sample of a model's original training data kept in its checkpoint directory, as JSON
/// Lines; fine-tuning mixes it in (see [`replay_sample`]) and copies it into the candidate, so
/// every version fine-tuned later still has it.
pub const REPLAY_FILE: &str = "replay.jsonl";
/// The run's summary, written into the candidate beside the trainer's `training.json`.
pub const REPORT_FILE: &str = "finetune.json";

/// Settings of a fine-tuning run. The defaults are meant for what an expert reviews in a
/// session (tens of sentences) on top of a model already trained with the paper's recipe;
/// the runs they were chosen by are in docs/RESULTS.md, "Fine-tuning defaults".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct FinetuneConfig {
    /// Passes over reviewed + replayed sentences. Default 5: fewer passes learn the
    /// corrections less (4 passes learnt clearly less, and forgot no less, also with the
    /// smaller replay); 10 learnt no more and took longer.
    pub epochs: usize,
    /// Sentences per optimiser step. Default 4, the batch size the model was trained with
    /// (Table 3), so the gradient noise is what its weights are used to.
    pub batch_size: usize,
    /// Peak learning rate (10 % linear warm-up, then linear decay to 0). Default 3e-5, below the
    /// 5e-5 of the original training: the weights are already trained; 3e-5 learnt the
    /// corrections as well as 5e-5 and forgot less, 1e-5 learnt clearly less.
    pub lr: f64,
    /// Most sentences of the original training data mixed in (fewer if fewer are given, or
    /// fewer reviewed sentences ask for fewer: [`Self::replay_per_reviewed`]). Default 200,
    /// about a fifth of CoNLL04's 922: every type and relation keeps being seen, and an epoch
    /// stays short. Without replay the model forgot most and, oddly, learnt less.
    pub replay: usize,
    /// Original sentences mixed in per reviewed sentence trained on, below the cap of
    /// [`Self::replay`]; 0 always mixes in the whole cap. Default 2: with tens of reviewed
    /// sentences an epoch is a third of the length a fixed 200 gives, so a CPU run finishes
    /// in about half the time; on 40 reviewed sentences the corrections were learnt as well,
    /// at a cost of up to a point of relation F1 on the rest of dev (docs/RESULTS.md,
    /// "Fine-tuning at interactive speed").
    pub replay_per_reviewed: f64,
    /// Share of the reviewed sentences held out to compare the new model with the current one
    /// (see [`split_held_out`] for the bounds). Default 0.2: with 20 reviewed sentences, about
    /// 4 to score on and 16 to learn; a larger share leaves little to learn from, a smaller one
    /// a comparison on one or two sentences.
    pub held_out: f64,
    /// Seed of the held-out split, the replay sample, the shuffling and the negatives.
    pub seed: u64,
    /// Negative spans sampled per sentence (as in training).
    pub neg_entity_count: usize,
    /// Negative entity pairs sampled per sentence (as in training).
    pub neg_relation_count: usize,
    /// Store the candidate in f16. Default off: f16 keeps about three significant digits,
    /// coarser than many of the changes a 3e-5 step makes, and an f16 run learnt the trained
    /// sentences' relations less (one sample: docs/RESULTS.md, "Fine-tuning defaults"). f32
    /// costs twice the disk space of f16 for each version.
    pub half: bool,
    /// Fewest held-out sentences the keep-or-discard decision is made on. When the held-out
    /// share gives fewer, the decision is made by cross-validation over all the reviewed
    /// sentences (at least this many), or not at all: "too few reviewed sentences to judge".
    /// Default 5: one or two sentences swing F1 by tens of points either way.
    pub min_held_out: usize,
    /// Folds of that cross-validation (each fold trains one more model). Default 5.
    pub folds: usize,
    /// Sentences at the start of the original training data (the replay sample) kept aside
    /// to check what the candidate forgets; never mixed in. Default 100.
    pub forgetting: usize,
    /// How many F1 points (relations strict, then entities) the candidate may lose on those
    /// sentences and still be kept without asking. Default 1.
    pub max_forgetting: f64,
    /// Examples in the sentences trained on before a type the model was grown by is
    /// predicted (until then it is learnt but left out of predictions). Default 10.
    pub propose_after: usize,
    /// Model versions kept in the documents' versions folder once a new one is kept: the last
    /// this many and the current one; older ones are pruned. Default 0: every version kept.
    pub keep_versions: usize,
}

impl Default for FinetuneConfig {
    fn default() -> Self {
        Self {
            epochs: 5,
            batch_size: 4,
            lr: 3e-5,
            replay: 200,
            replay_per_reviewed: 2.0,
            held_out: 0.2,
            seed: 0,
            neg_entity_count: 100,
            neg_relation_count: 100,
            half: false,
            min_held_out: 5,
            folds: 5,
            forgetting: 100,
            max_forgetting: 1.0,
            propose_after: 10,
            keep_versions: 0,
        }
    }
}

/// What to fine-tune, on what, and where to put the result.
#[derive(Debug, Clone)]
pub struct FinetuneJob {
    /// The current model's checkpoint directory; only read.
    pub base: PathBuf,
    /// The reviewed sentences (see [`reviewed_sentences`]); every annotation in them counts as
    /// gold, whatever its `"source"`.
    pub reviewed: Vec<Sentence>,
    /// Original training data to mix in; `config.replay` of them are drawn (see
    /// [`replay_sample`] for the base's own sample).
    pub replay: Vec<Sentence>,
    /// The settings.
    pub config: FinetuneConfig,
    /// Where to train: the GPU when there is one.
    pub device: DeviceSpec,
    /// The candidate checkpoint directory to write; it must not exist yet (a directory that is
    /// already there is never replaced). Removed again when the run does not finish.
    pub work_dir: PathBuf,
    /// The expert's types file: the model is grown by the types of it that reviewed
    /// sentences use and the model lacks (labels and symmetry from here). `None`: only the
    /// model's own types.
    pub types: Option<Types>,
}

/// What a run reports through its callback.
#[derive(Debug, Clone, PartialEq)]
pub enum FinetuneProgress {
    /// The data is ready and training starts.
    Started {
        /// Where it runs, e.g. `cpu` or `cuda:0`.
        device: String,
        /// Reviewed sentences to learn.
        trained_on: usize,
        /// Original training sentences mixed in.
        replayed: usize,
        /// Reviewed sentences held out for the comparison.
        held_out: usize,
        /// Epochs of the run.
        epochs: usize,
        /// Optimiser steps of the run.
        total_steps: usize,
    },
    /// An optimiser step finished: epoch, step, loss, elapsed and estimated time left.
    Step(StepProgress),
    /// An epoch finished.
    Epoch(EpochRecord),
    /// Cross-validation: a model for fold `fold` (1-based) of `folds` is being trained.
    Fold {
        /// This fold.
        fold: usize,
        /// All folds.
        folds: usize,
    },
    /// Training is done; both models are being scored on the held-out sentences.
    Scoring {
        /// Held-out sentences.
        sentences: usize,
    },
}

/// A finished run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FinetuneOutcome {
    /// The candidate checkpoint (the job's `work_dir`).
    pub candidate: PathBuf,
    /// The current model's scores on the held-out reviewed sentences.
    pub before: Scores,
    /// The candidate's scores on the same sentences.
    pub after: Scores,
    /// Whether the candidate may replace the current model (see [`is_not_worse`]); always
    /// false when nothing was held out, so that only the user can decide then.
    pub not_worse: bool,
    /// Reviewed sentences trained on.
    pub trained_on: usize,
    /// Original training sentences mixed in.
    pub replayed: usize,
    /// Reviewed sentences held out.
    pub held_out: usize,
    /// Wall-clock seconds of the whole run, scoring included.
    pub seconds: f64,
    /// The training loop's report (losses, epochs).
    pub training: TrainReport,
    /// How `before` and `after` were obtained.
    pub judged_by: Judge,
    /// Both models' scores on the fixed slice of original data ([`FinetuneConfig::forgetting`]);
    /// zero sentences when there is none.
    pub forgetting: (Scores, Scores),
    /// The judged sentences whose predictions changed, before and after.
    pub changed: Vec<ChangedSentence>,
    /// New types the candidate has outputs for, and whether it predicts each yet.
    pub grown: Vec<(String, bool)>,
    /// Why the candidate is or is not kept without asking, in one sentence.
    pub verdict: String,
}

/// How the decision's scores were obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Judge {
    /// On reviewed sentences held out of training.
    HeldOut,
    /// By cross-validation over every reviewed sentence, with this many folds.
    CrossValidation(usize),
    /// Too few reviewed sentences to judge: no scores.
    TooFew,
}

/// A judged sentence whose prediction changed: its words and both models' annotations, in
/// the compact form of [`describe_annotations`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChangedSentence {
    /// The sentence's words joined by spaces.
    pub text: String,
    /// The expert's annotations.
    pub gold: String,
    /// The current model's prediction.
    pub before: String,
    /// The candidate's prediction.
    pub after: String,
}

/// A sentence's annotations in one line: `Geneva [Loc], UNHCR [Org]; OrgBased_In(UNHCR ->
/// Geneva)`, or `nothing`.
pub fn describe_annotations(s: &Sentence) -> String {
    let words = |start: usize, end: usize| s.tokens.get(start..end).unwrap_or(&[]).join(" ");
    let entities: Vec<String> = s
        .entities
        .iter()
        .map(|e| format!("{} [{}]", words(e.start, e.end), e.entity_type))
        .collect();
    let name = |i: usize| s.entities.get(i).map_or("?".to_string(), |e| words(e.start, e.end));
    let relations: Vec<String> = s
        .relations
        .iter()
        .map(|r| format!("{}({} -> {})", r.relation_type, name(r.head), name(r.tail)))
        .collect();
    match (entities.is_empty(), relations.is_empty()) {
        (true, true) => "nothing".into(),
        (_, true) => entities.join(", "),
        _ => format!("{}; {}", entities.join(", "), relations.join(", ")),
    }
}

impl FinetuneOutcome {
    /// The record to accept the candidate with: `parent` names the base (see
    /// [`crate::model::versions::Versions::name_of`]); `forced` when the user accepts a
    /// candidate that is not [`Self::not_worse`].
    pub fn record(&self, parent: String) -> VersionRecord {
        VersionRecord {
            parent,
            before: self.before,
            after: self.after,
            trained_on: self.trained_on,
            replayed: self.replayed,
            held_out: self.held_out,
            forced: !self.not_worse,
        }
    }

    /// Removes the candidate when it is not accepted (an accepted one is moved away by
    /// [`crate::model::versions::Versions::accept`]); see [`FinetuneFlow::discard`].
    pub fn discard(&self) -> Result<(), DataError> {
        flow::remove_candidate(&self.candidate)
    }
}

/// Why a run produced no candidate. In every case the current model is untouched and the work
/// directory is gone.
#[derive(Debug, thiserror::Error)]
pub enum FinetuneError {
    /// There is nothing to learn.
    #[error("no reviewed sentence to fine-tune on: review some sentences first")]
    NoReviewed,
    /// A setting is out of range.
    #[error("bad fine-tuning setting: {0}")]
    Config(String),
    /// The work directory exists already.
    #[error(
        "`{}` already exists: fine-tuning writes its candidate into a new directory",
        .0.display()
    )]
    WorkDirExists(PathBuf),
    /// A sentence names a type the model does not predict.
    #[error(
        "{what} sentence {index} (\"{preview}\"): {kind} type `{name}` is not one the model \
         predicts ({known})"
    )]
    UnknownType {
        /// `reviewed` or `replay`.
        what: &'static str,
        /// 0-based index among those sentences.
        index: usize,
        /// The sentence's first words.
        preview: String,
        /// `entity` or `relation`.
        kind: &'static str,
        /// The unknown name.
        name: String,
        /// The types the model knows, comma-separated.
        known: String,
    },
    /// The cancellation flag was raised.
    #[error("fine-tuning cancelled; the current model is unchanged")]
    Cancelled,
    /// Training stopped: a NaN or infinite loss or weights, or a tensor error.
    #[error("fine-tuning failed, the current model is unchanged: {0}")]
    Train(Box<TrainError>),
    /// A checkpoint cannot be loaded.
    #[error(transparent)]
    Checkpoint(Box<CheckpointError>),
    /// The device cannot be opened.
    #[error("cannot use device {device}: {source}")]
    Device {
        /// The device asked for.
        device: DeviceSpec,
        /// Why.
        source: candle_core::Error,
    },
    /// Predictions could not be scored.
    #[error("scoring the held-out sentences: {0}")]
    Eval(#[from] EvalError),
    /// A tensor operation failed while predicting.
    #[error("model error: {0}")]
    Model(#[from] candle_core::Error),
    /// A file could not be read or written.
    #[error(transparent)]
    Data(#[from] DataError),
    /// The versions folder could not be read or written.
    #[error("model versions: {0}")]
    Versions(String),
    /// A discarded candidate could not be removed.
    #[error("the discarded candidate could not be removed: {0}")]
    Discard(DataError),
}

impl From<CheckpointError> for FinetuneError {
    fn from(e: CheckpointError) -> Self {
        Self::Checkpoint(Box::new(e))
    }
}

impl From<TrainError> for FinetuneError {
    fn from(e: TrainError) -> Self {
        match e {
            TrainError::Cancelled { .. } => Self::Cancelled,
            other => Self::Train(Box::new(other)),
        }
    }
}

/// Whether `after` may replace a model that scored `before`: on the comparison key, relations
/// strict micro F1 first and entity micro F1 to break a tie, `after` is at least as good. It is
/// the key that chose the bundled model's epoch; relation F1 comes first because a relation is
/// only right when both its entities are. Nothing scored on (0 sentences) is never "not worse".
pub fn is_not_worse(after: &Scores, before: &Scores) -> bool {
    if after.sentences == 0 || before.sentences == 0 {
        return false;
    }
    let (a, b) =
        ((after.relations.f1, after.entities.f1), (before.relations.f1, before.entities.f1));
    a.0 > b.0 || (a.0 == b.0 && a.1 >= b.1)
}

/// The micro scores of the checkpoint in `dir` on `sentences` (SpERT protocol; their
/// annotations are the gold). No sentences: zero scores, nothing loaded.
pub fn score_checkpoint(
    dir: &Path,
    sentences: &[Sentence],
    device: &Device,
) -> Result<Scores, FinetuneError> {
    if sentences.is_empty() {
        return Ok(Scores::default());
    }
    let (model, _, pieces, types) = checkpoint::load(dir, device, DType::F32)?;
    let predictions = predict(&model, &pieces, sentences, 8, device)?;
    let predicted: Vec<Sentence> =
        sentences.iter().zip(&predictions).map(|(s, p)| p.to_sentence(&s.tokens)).collect();
    Ok(scores(&evaluate(sentences, &predicted, &types)?))
}

fn scores(evaluation: &Evaluation) -> Scores {
    let score =
        |p: &Prf| Score { precision: p.precision, recall: p.recall, f1: p.f1, support: p.support };
    Scores {
        sentences: evaluation.sentences,
        entities: score(&evaluation.entities.micro),
        relations: score(&evaluation.relations_strict.micro),
    }
}

/// Fine-tunes a copy of `job.base` on the reviewed sentences (less the held-out ones) and a
/// replay sample, writes it to `job.work_dir`, and scores both models on the held-out
/// sentences. The last epoch is kept: no epoch is chosen on the held-out sentences, which would
/// make the comparison that follows flatter the candidate. Checks `cancel` between steps.
pub fn finetune(
    job: &FinetuneJob,
    cancel: &AtomicBool,
    progress: &mut dyn FnMut(FinetuneProgress),
) -> Result<FinetuneOutcome, FinetuneError> {
    finetune_prepared(job, None, cancel, progress)
}

/// [`finetune`] on `prepared`'s device handle when it is the job's device, starting from its
/// trainable copy when that is of the job's base (see [`Prepared`]); otherwise the device is
/// opened and the base loaded as usual.
pub fn finetune_prepared(
    job: &FinetuneJob,
    prepared: Option<Prepared>,
    cancel: &AtomicBool,
    progress: &mut dyn FnMut(FinetuneProgress),
) -> Result<FinetuneOutcome, FinetuneError> {
    let started = Instant::now();
    check_config(&job.config)?;
    if job.reviewed.is_empty() {
        return Err(FinetuneError::NoReviewed);
    }
    if std::fs::symlink_metadata(&job.work_dir).is_ok() {
        return Err(FinetuneError::WorkDirExists(job.work_dir.clone()));
    }
    let result = run(job, prepared, cancel, progress, started);
    if result.is_err() {
        // Ours: it did not exist when we started.
        let _ = std::fs::remove_dir_all(&job.work_dir);
    }
    result
}

fn run(
    job: &FinetuneJob,
    prepared: Option<Prepared>,
    cancel: &AtomicBool,
    progress: &mut dyn FnMut(FinetuneProgress),
    started: Instant,
) -> Result<FinetuneOutcome, FinetuneError> {
    let cfg = &job.config;
    let (_, model_types) = checkpoint::read_manifest(&job.base)?;
    let types = grown_types(&model_types, &job.reviewed, job.types.as_ref());
    check_types(&job.reviewed, &types, "reviewed")?;
    check_types(&job.replay, &model_types, "replay")?;
    let aside = cfg.forgetting.min(job.replay.len());
    let (forgetting, pool) = job.replay.split_at(aside);
    let (train, held_out) = split_held_out(&job.reviewed, cfg.held_out, cfg.seed);
    let judge = if held_out.len() >= cfg.min_held_out.max(1) {
        Judge::HeldOut
    } else if job.reviewed.len() >= cfg.min_held_out.max(2) && cfg.folds >= 2 {
        Judge::CrossValidation(cfg.folds.min(job.reviewed.len()))
    } else {
        Judge::TooFew
    };
    let (train, judged) = match judge {
        Judge::HeldOut => (train, held_out),
        Judge::CrossValidation(_) => (job.reviewed.clone(), job.reviewed.clone()),
        Judge::TooFew => (job.reviewed.clone(), Vec::new()),
    };
    let trained_on = train.len();
    let replay = draw(pool, replay_size(cfg, trained_on), cfg.seed);
    let (device, trainable) = match prepared.and_then(|p| p.take_for(&job.base, job.device)) {
        Some(taken) => taken,
        None => {
            let device = job
                .device
                .open()
                .map_err(|source| FinetuneError::Device { device: job.device, source })?;
            (device, None)
        }
    };
    progress(FinetuneProgress::Started {
        device: crate::model::device::DeviceSpec::name_of(&device),
        trained_on,
        replayed: replay.len(),
        held_out: judged.len(),
        epochs: cfg.epochs,
        total_steps: (train.len() + replay.len()).div_ceil(cfg.batch_size) * cfg.epochs,
    });
    if cancel.load(Ordering::Relaxed) {
        return Err(FinetuneError::Cancelled);
    }
    let (training, grown) = train_candidate(
        job,
        trainable,
        &types,
        &train,
        &replay,
        &device,
        &job.work_dir,
        cancel,
        progress,
    )?;
    let replay_file = job.base.join(REPLAY_FILE);
    if replay_file.is_file() {
        std::fs::copy(&replay_file, job.work_dir.join(REPLAY_FILE))
            .map_err(|e| DataError::io(&replay_file, "copy", &e))?;
    }
    // The candidates of the folds predict the sentences they did not see.
    let (after_predictions, after_forgetting) = match judge {
        Judge::CrossValidation(folds) => (
            cross_validate(job, &types, &replay, folds, &device, cancel, progress)?,
            predictions(&job.work_dir, forgetting, &device)?,
        ),
        _ => {
            if cancel.load(Ordering::Relaxed) {
                return Err(FinetuneError::Cancelled);
            }
            progress(FinetuneProgress::Scoring { sentences: judged.len() });
            predictions_of_both(&job.work_dir, &judged, forgetting, &device)?
        }
    };
    let (before_predictions, before_forgetting) =
        predictions_of_both(&job.base, &judged, forgetting, &device)?;
    let before = score(&judged, &before_predictions, &types)?;
    let after = score(&judged, &after_predictions, &types)?;
    let forgetting = (
        score(forgetting, &before_forgetting, &model_types)?,
        score(forgetting, &after_forgetting, &model_types)?,
    );
    let changed = judged
        .iter()
        .zip(before_predictions.iter().zip(&after_predictions))
        .filter(|(_, (b, a))| b != a)
        .map(|(gold, (b, a))| ChangedSentence {
            text: gold.tokens.join(" "),
            gold: describe_annotations(gold),
            before: describe_annotations(b),
            after: describe_annotations(a),
        })
        .collect();
    let (not_worse, verdict) = decide(judge, &before, &after, &forgetting, cfg, job.reviewed.len());
    let outcome = FinetuneOutcome {
        candidate: job.work_dir.clone(),
        before,
        after,
        not_worse,
        trained_on,
        replayed: replay.len(),
        held_out: judged.len(),
        seconds: started.elapsed().as_secs_f64(),
        training,
        judged_by: judge,
        forgetting,
        changed,
        grown,
        verdict,
    };
    write_report(job, &outcome)?;
    Ok(outcome)
}

/// Whether the candidate is kept without asking, and why in one sentence.
fn decide(
    judge: Judge,
    before: &Scores,
    after: &Scores,
    forgetting: &(Scores, Scores),
    cfg: &FinetuneConfig,
    reviewed: usize,
) -> (bool, String) {
    let on = match judge {
        Judge::TooFew => {
            return (false, format!("too few reviewed sentences to judge ({reviewed})"))
        }
        Judge::HeldOut => format!("{} held-out reviewed sentences", after.sentences),
        Judge::CrossValidation(k) => {
            format!("{} reviewed sentences by {k}-fold cross-validation", after.sentences)
        }
    };
    if !is_not_worse(after, before) {
        return (false, format!("scored worse on {on}"));
    }
    let (old, new) = forgetting;
    let lost = |a: f64, b: f64| a - b > cfg.max_forgetting;
    if old.sentences > 0
        && (lost(old.relations.f1, new.relations.f1) || lost(old.entities.f1, new.entities.f1))
    {
        return (
            false,
            format!(
                "not worse on {on}, but forgot on {} original sentences: relations F1 {:.1} -> \
                 {:.1}, entities F1 {:.1} -> {:.1}",
                old.sentences, old.relations.f1, new.relations.f1, old.entities.f1, new.entities.f1
            ),
        );
    }
    (true, format!("not worse on {on}"))
}

/// The model's types followed by those of the expert's types file that reviewed sentences use
/// and the model lacks, in the types file's order: the types of a grown model.
pub fn grown_types(model: &Types, reviewed: &[Sentence], schema: Option<&Types>) -> Types {
    let mut types = model.clone();
    let Some(schema) = schema else { return types };
    let used_entity =
        |name: &str| reviewed.iter().any(|s| s.entities.iter().any(|e| e.entity_type == name));
    let used_relation =
        |name: &str| reviewed.iter().any(|s| s.relations.iter().any(|r| r.relation_type == name));
    for t in &schema.entities {
        if types.entity_index(&t.name).is_none() && used_entity(&t.name) {
            types.entities.push(t.clone());
        }
    }
    for t in &schema.relations {
        if types.relation_index(&t.name).is_none() && used_relation(&t.name) {
            types.relations.push(t.clone());
        }
    }
    types
}

/// Original sentences a run that trains on `trained_on` reviewed ones mixes in.
pub fn replay_size(cfg: &FinetuneConfig, trained_on: usize) -> usize {
    if cfg.replay_per_reviewed > 0.0 {
        cfg.replay.min((cfg.replay_per_reviewed * trained_on as f64).ceil() as usize)
    } else {
        cfg.replay
    }
}

/// Trains a copy of the base (`loaded`, or else loaded from it), grown by the types it lacks,
/// on `train` and `replay` into `out`; a grown type is predicted once `train` has
/// [`FinetuneConfig::propose_after`] examples of it. Returns the training report and the
/// grown types with that choice.
#[allow(clippy::too_many_arguments)]
fn train_candidate(
    job: &FinetuneJob,
    loaded: Option<Trainable>,
    types: &Types,
    train: &[Sentence],
    replay: &[Sentence],
    device: &Device,
    out: &Path,
    cancel: &AtomicBool,
    progress: &mut dyn FnMut(FinetuneProgress),
) -> Result<(TrainReport, Vec<(String, bool)>), FinetuneError> {
    let cfg = &job.config;
    let (trainable, model_types) = match loaded {
        Some(trainable) => (trainable, checkpoint::read_manifest(&job.base)?.1),
        None => checkpoint::load_trainable(&job.base, device, DType::F32)?,
    };
    let new_entities: Vec<String> =
        types.entities[model_types.entities.len()..].iter().map(|t| t.name.clone()).collect();
    let new_relations: Vec<(String, bool)> = types.relations[model_types.relations.len()..]
        .iter()
        .map(|t| (t.name.clone(), t.symmetric))
        .collect();
    let mut trainable = checkpoint::grow(trainable, &new_entities, &new_relations, cfg.seed)?;
    let count_entities = |name: &str| {
        train.iter().flat_map(|s| &s.entities).filter(|e| e.entity_type == name).count()
    };
    let count_relations = |name: &str| {
        train.iter().flat_map(|s| &s.relations).filter(|r| r.relation_type == name).count()
    };
    let mut grown = Vec::new();
    let config = &mut trainable.config;
    config.learning_entity_types.retain(|t| {
        let predicted = count_entities(t) >= cfg.propose_after;
        grown.push((t.clone(), predicted));
        !predicted
    });
    config.learning_relation_types.retain(|t| {
        let predicted = count_relations(t) >= cfg.propose_after;
        grown.push((t.clone(), predicted));
        !predicted
    });
    let mut mixed = train.to_vec();
    mixed.extend(replay.iter().cloned());
    let train_cfg = TrainConfig {
        epochs: cfg.epochs,
        batch_size: cfg.batch_size,
        lr: cfg.lr,
        neg_entity_count: cfg.neg_entity_count,
        neg_relation_count: cfg.neg_relation_count,
        seed: cfg.seed,
        eval_every_epoch: false,
        half: cfg.half,
        // A run the reviewer waits for: no time on padding (see the field).
        length_batches: true,
        ..TrainConfig::default()
    };
    let data = TrainData { types, train: &mixed, dev: None };
    let report = trainer::train(&mut trainable, &data, &train_cfg, out, cancel, &mut |p| {
        progress(match p {
            Progress::Step(s) => FinetuneProgress::Step(s),
            Progress::Epoch(e) => FinetuneProgress::Epoch(e),
        })
    })?;
    Ok((report, grown))
}

/// Predictions for every reviewed sentence, each by a model trained on the folds it is not
/// in (folds by position, `i mod folds`). Fold models are written beside the work directory
/// and removed again.
fn cross_validate(
    job: &FinetuneJob,
    types: &Types,
    replay: &[Sentence],
    folds: usize,
    device: &Device,
    cancel: &AtomicBool,
    progress: &mut dyn FnMut(FinetuneProgress),
) -> Result<Vec<Sentence>, FinetuneError> {
    let mut predicted = vec![Sentence::from_tokens(Vec::new()); job.reviewed.len()];
    for fold in 0..folds {
        if cancel.load(Ordering::Relaxed) {
            return Err(FinetuneError::Cancelled);
        }
        progress(FinetuneProgress::Fold { fold: fold + 1, folds });
        let (mut train, mut judged, mut positions) = (Vec::new(), Vec::new(), Vec::new());
        for (i, s) in job.reviewed.iter().enumerate() {
            if i % folds == fold {
                judged.push(s.clone());
                positions.push(i);
            } else {
                train.push(s.clone());
            }
        }
        let name =
            job.work_dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let out = job.work_dir.with_file_name(format!("{name}.fold-{}", fold + 1));
        let trained = train_candidate(
            job,
            None,
            types,
            &train,
            replay,
            device,
            &out,
            cancel,
            &mut |p| match p {
                FinetuneProgress::Step(_) | FinetuneProgress::Epoch(_) => {}
                other => progress(other),
            },
        );
        let result = trained.and_then(|_| predictions(&out, &judged, device));
        let _ = std::fs::remove_dir_all(&out);
        for (position, p) in positions.into_iter().zip(result?) {
            predicted[position] = p;
        }
    }
    progress(FinetuneProgress::Scoring { sentences: job.reviewed.len() });
    Ok(predicted)
}

/// The checkpoint in `dir`'s predictions for `sentences`, as sentences (nothing loaded when
/// there are none).
fn predictions(
    dir: &Path,
    sentences: &[Sentence],
    device: &Device,
) -> Result<Vec<Sentence>, FinetuneError> {
    if sentences.is_empty() {
        return Ok(Vec::new());
    }
    let (model, _, pieces, _) = checkpoint::load(dir, device, DType::F32)?;
    let found = predict(&model, &pieces, sentences, 8, device)?;
    Ok(sentences.iter().zip(&found).map(|(s, p)| p.to_sentence(&s.tokens)).collect())
}

/// The checkpoint in `dir`'s predictions for `first` and for `second`, loading it once.
fn predictions_of_both(
    dir: &Path,
    first: &[Sentence],
    second: &[Sentence],
    device: &Device,
) -> Result<(Vec<Sentence>, Vec<Sentence>), FinetuneError> {
    let both: Vec<Sentence> = first.iter().chain(second).cloned().collect();
    let mut predicted = predictions(dir, &both, device)?;
    let second_predicted = predicted.split_off(first.len());
    Ok((predicted, second_predicted))
}

/// Micro scores of `predicted` against `gold` (zero scores for no sentences).
fn score(
    gold: &[Sentence],
    predicted: &[Sentence],
    types: &Types,
) -> Result<Scores, FinetuneError> {
    if gold.is_empty() {
        return Ok(Scores::default());
    }
    Ok(scores(&evaluate(gold, predicted, types)?))
}

fn check_config(cfg: &FinetuneConfig) -> Result<(), FinetuneError> {
    if !(0.0..1.0).contains(&cfg.held_out) {
        return Err(FinetuneError::Config(format!(
            "held-out share {} must lie in [0, 1)",
            cfg.held_out
        )));
    }
    if cfg.epochs == 0 || cfg.batch_size == 0 {
        return Err(FinetuneError::Config("epochs and batch size must be at least 1".into()));
    }
    if !(cfg.lr.is_finite() && cfg.lr > 0.0) {
        return Err(FinetuneError::Config(format!("learning rate {} must be positive", cfg.lr)));
    }
    if !(cfg.replay_per_reviewed.is_finite() && cfg.replay_per_reviewed >= 0.0) {
        return Err(FinetuneError::Config(format!(
            "replay per reviewed sentence {} must not be negative",
            cfg.replay_per_reviewed
        )));
    }
    Ok(())
}

/// Refuses sentences with a type the model has no output for, naming the sentence.
fn check_types(
    sentences: &[Sentence],
    types: &Types,
    what: &'static str,
) -> Result<(), FinetuneError> {
    for (index, s) in sentences.iter().enumerate() {
        let entity =
            s.entities.iter().map(|e| &e.entity_type).find(|t| types.entity_index(t).is_none());
        let relation = s
            .relations
            .iter()
            .map(|r| &r.relation_type)
            .find(|t| types.relation_index(t).is_none());
        let (kind, name, known) = match (entity, relation) {
            (Some(name), _) => {
                ("entity", name, types.entities.iter().map(|t| t.name.as_str()).collect::<Vec<_>>())
            }
            (None, Some(name)) => {
                ("relation", name, types.relations.iter().map(|t| t.name.as_str()).collect())
            }
            (None, None) => continue,
        };
        return Err(FinetuneError::UnknownType {
            what,
            index,
            preview: s.tokens.iter().take(8).cloned().collect::<Vec<_>>().join(" "),
            kind,
            name: name.clone(),
            known: known.join(", "),
        });
    }
    Ok(())
}

#[derive(Serialize)]
struct ReportFile<'a> {
    base: &'a Path,
    device: String,
    config: &'a FinetuneConfig,
    before: &'a Scores,
    after: &'a Scores,
    not_worse: bool,
    trained_on: usize,
    replayed: usize,
    held_out: usize,
    seconds: f64,
    judged_by: Judge,
    forgetting: &'a (Scores, Scores),
    changed: &'a [ChangedSentence],
    grown: &'a [(String, bool)],
    verdict: &'a str,
}

fn write_report(job: &FinetuneJob, outcome: &FinetuneOutcome) -> Result<(), FinetuneError> {
    let report = ReportFile {
        base: &job.base,
        device: job.device.resolve().0.to_string(),
        config: &job.config,
        before: &outcome.before,
        after: &outcome.after,
        not_worse: outcome.not_worse,
        trained_on: outcome.trained_on,
        replayed: outcome.replayed,
        held_out: outcome.held_out,
        seconds: outcome.seconds,
        judged_by: outcome.judged_by,
        forgetting: &outcome.forgetting,
        changed: &outcome.changed,
        grown: &outcome.grown,
        verdict: &outcome.verdict,
    };
    let text = serde_json::to_string_pretty(&report)
        .map_err(|e| FinetuneError::Config(format!("cannot serialise the report: {e}")))?;
    write_atomic(&job.work_dir.join(REPORT_FILE), text.as_bytes())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replay_follows_the_reviewed_sentences_up_to_its_cap() {
        let cfg = FinetuneConfig { replay: 200, replay_per_reviewed: 2.0, ..Default::default() };
        assert_eq!(replay_size(&cfg, 40), 80);
        assert_eq!(replay_size(&cfg, 3), 6);
        assert_eq!(replay_size(&cfg, 150), 200);
        assert_eq!(replay_size(&FinetuneConfig { replay_per_reviewed: 0.0, ..cfg }, 3), 200);
    }

    #[test]
    fn relation_f1_decides_and_entity_f1_breaks_ties() {
        let s = |entities: f64, relations: f64| Scores {
            sentences: 3,
            entities: Score { f1: entities, ..Score::default() },
            relations: Score { f1: relations, ..Score::default() },
        };
        assert!(is_not_worse(&s(50.0, 60.0), &s(50.0, 60.0)));
        assert!(is_not_worse(&s(40.0, 61.0), &s(50.0, 60.0)));
        assert!(!is_not_worse(&s(90.0, 59.0), &s(50.0, 60.0)));
        assert!(!is_not_worse(&s(49.0, 60.0), &s(50.0, 60.0)));
        assert!(!is_not_worse(&Scores::default(), &Scores::default()));
    }
}
