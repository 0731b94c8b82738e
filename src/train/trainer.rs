//! The training loop (docs/DESIGN.md §1 "Training"): epochs of shuffled batches with freshly
//! sampled negatives, the joint loss, AdamW with a linear schedule and clipping; after each epoch
//! an evaluation on the dev set and an atomic save of the best model so far, with `training.json`
//! beside the weights. The loop knows nothing of a user interface: it reports through a callback
//! and stops when a flag is raised.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use candle_core::{DType, Device, Tensor};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};

use super::evaluate::{evaluate, EvalError, Prf};
use super::loss::{joint_loss, LossTargets};
use super::sampling::{GoldSentence, SamplingConfig, TrainSample, UnknownType};
use super::schedule::{LinearSchedule, Optimiser};
use crate::data::io::write_atomic;
use crate::data::types::Types;
use crate::data::wordpiece::EncodedSentence;
use crate::data::{DataError, Sentence};
use crate::model::batch::{PairBatch, PieceBatch, SpanBatch};
use crate::model::candidates::span_pieces;
use crate::model::checkpoint::{self, CheckpointError, Trainable};
use crate::model::decode::predict;

/// The run's report file, written into the output checkpoint directory.
pub const REPORT_FILE: &str = "training.json";

/// Hyper-parameters of a run; the defaults are the paper's Table 3 (docs/MODEL.md), CoNLL04 column,
/// with docs/DESIGN.md's 100 negatives.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    /// Passes over the training set.
    pub epochs: usize,
    /// Sentences per optimiser step.
    pub batch_size: usize,
    /// Peak learning rate.
    pub lr: f64,
    /// Share of all steps spent warming up.
    pub warmup_fraction: f64,
    /// AdamW weight decay (not on biases and LayerNorm weights).
    pub weight_decay: f64,
    /// Gradient-norm clipping threshold.
    pub max_grad_norm: f64,
    /// Weight λ of the span loss (eq. 10).
    pub lambda: f64,
    /// Negative spans per sentence.
    pub neg_entity_count: usize,
    /// Negative entity pairs per sentence.
    pub neg_relation_count: usize,
    /// Seed of the shuffling, the negative sampling and the dropout masks.
    pub seed: u64,
    /// Evaluate on the dev set after every epoch and keep the best epoch; otherwise the last
    /// epoch is kept.
    pub eval_every_epoch: bool,
    /// Sentences per forward pass when predicting the dev set.
    pub eval_batch_size: usize,
    /// Store checkpoints in f16.
    pub half: bool,
    /// When above 0, the model kept is the mean of the weights at the end of the last this
    /// many epochs (1: the last epoch), with no epoch chosen on dev; dev is only scored.
    #[serde(default)]
    pub average_last: usize,
    /// Batch sentences of similar length: each epoch's shuffled order is cut into pools of a
    /// few batches, each pool sorted by length before it is cut into batches, and the batches
    /// shuffled. A batch is padded to its longest sentence, so random batches spend much of
    /// a CPU's time on padding; batches stay random in which sentences they mix across the
    /// pools. Off by default: a fresh run keeps the paper's plain shuffled batches.
    #[serde(default)]
    pub length_batches: bool,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            epochs: 20,
            batch_size: 4,
            lr: 5e-5,
            warmup_fraction: 0.1,
            weight_decay: 0.01,
            max_grad_norm: 1.0,
            lambda: 1.0,
            neg_entity_count: 100,
            neg_relation_count: 100,
            seed: 0,
            eval_every_epoch: true,
            eval_batch_size: 8,
            half: false,
            average_last: 0,
            length_batches: false,
        }
    }
}

/// What to train on.
#[derive(Debug, Clone, Copy)]
pub struct TrainData<'a> {
    /// The entity and relation types (the model's outputs, in order).
    pub types: &'a Types,
    /// Training sentences with gold annotations.
    pub train: &'a [Sentence],
    /// Development sentences to choose the best epoch on.
    pub dev: Option<&'a [Sentence]>,
}

/// Where a run stands after an optimiser step.
#[derive(Debug, Clone, PartialEq)]
pub struct StepProgress {
    /// Current epoch, 1-based.
    pub epoch: usize,
    /// Epochs of the run.
    pub epochs: usize,
    /// Optimiser steps taken, over the whole run.
    pub step: usize,
    /// Optimiser steps of the whole run.
    pub total_steps: usize,
    /// Sentences learnt from so far in the run (repeats counted each epoch).
    pub sentences: usize,
    /// This step's loss.
    pub loss: f32,
    /// Mean loss of the epoch so far.
    pub epoch_loss: f32,
    /// Learning rate this step used.
    pub lr: f64,
    /// Time since the run started.
    pub elapsed: Duration,
    /// Estimated time left (steps only; dev evaluations add to it).
    pub eta: Duration,
}

/// Dev-set scores of one epoch (micro averages, percent).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct DevScores {
    /// Entities: span and type right.
    pub entities: Prf,
    /// Relations, strict: type and both entities (span and type) right.
    pub relations_strict: Prf,
    /// Relations, boundaries only: type and both entity spans right, entity types ignored
    /// (the SciERC papers' setting).
    pub relations_boundaries: Prf,
}

/// One finished epoch.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EpochRecord {
    /// The epoch, 1-based.
    pub epoch: usize,
    /// Mean training loss over its steps.
    pub loss: f32,
    /// Optimiser steps it took.
    pub steps: usize,
    /// Seconds spent in training steps.
    pub train_seconds: f64,
    /// Training sentences per second.
    pub sentences_per_second: f64,
    /// Where the training seconds went, as the host saw them: forward pass and loss (up to
    /// reading the loss back, which waits for the device), backward pass, optimiser step.
    pub phase_seconds: PhaseSeconds,
    /// Seconds spent predicting and scoring the dev set.
    pub eval_seconds: f64,
    /// Dev scores, when evaluated.
    pub dev: Option<DevScores>,
    /// Whether this epoch's weights were saved as the best so far.
    pub saved: bool,
}

/// Seconds of an epoch's steps by phase (see [`EpochRecord::phase_seconds`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct PhaseSeconds {
    /// Negative sampling, batching, forward pass and loss, until the loss is on the host.
    pub forward: f64,
    /// `loss.backward()`.
    pub backward: f64,
    /// Clipping and the AdamW update.
    pub optimiser: f64,
}

/// What the loop reports through its callback.
#[derive(Debug, Clone, PartialEq)]
pub enum Progress {
    /// An optimiser step finished.
    Step(StepProgress),
    /// An epoch finished (dev scores included when evaluated).
    Epoch(EpochRecord),
}

/// The outcome of a finished run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrainReport {
    /// Every epoch.
    pub epochs: Vec<EpochRecord>,
    /// The epoch whose weights are in the output directory (with weight averaging, the last).
    pub best_epoch: Option<usize>,
    /// Dev scores of the averaged weights, when [`TrainConfig::average_last`] is on.
    pub averaged: Option<DevScores>,
    /// Loss of every optimiser step, in order (batches with nothing to classify are skipped).
    #[serde(skip)]
    pub losses: Vec<f32>,
    /// Wall-clock seconds of the whole run.
    pub seconds: f64,
}

/// Why a run stopped without finishing.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// A setting is out of range.
    #[error("bad training setting: {0}")]
    Config(String),
    /// The training set is empty.
    #[error("no training sentences")]
    NoTrainingData,
    /// Gold data names a type the model does not know.
    #[error(transparent)]
    UnknownType(#[from] UnknownType),
    /// The loss became NaN or infinite; the output directory keeps the last good checkpoint.
    #[error(
        "the loss became {loss} at epoch {epoch}, step {step} (try a lower learning rate); \
         the last good checkpoint, if any, is kept"
    )]
    NonFiniteLoss {
        /// Epoch, 1-based.
        epoch: usize,
        /// Step within the epoch, 1-based.
        step: usize,
        /// The value.
        loss: f32,
    },
    /// The weights became NaN or infinite although the loss did not; nothing was saved.
    #[error("the weights became NaN or infinite after epoch {epoch}; the last good checkpoint, if any, is kept")]
    NonFiniteWeights {
        /// Epoch, 1-based.
        epoch: usize,
    },
    /// The cancellation flag was raised.
    #[error(
        "training cancelled at epoch {epoch}, step {step}; the best checkpoint so far is kept"
    )]
    Cancelled {
        /// Epoch, 1-based.
        epoch: usize,
        /// Steps done in that epoch.
        step: usize,
    },
    /// The dev predictions could not be scored.
    #[error("evaluating the dev set: {0}")]
    Eval(Box<EvalError>),
    /// Saving the checkpoint failed.
    #[error(transparent)]
    Checkpoint(Box<CheckpointError>),
    /// Writing `training.json` failed.
    #[error("writing the training report: {0}")]
    Report(Box<DataError>),
    /// A tensor operation failed.
    #[error("model error: {0}")]
    Model(#[from] candle_core::Error),
}

impl From<EvalError> for TrainError {
    fn from(e: EvalError) -> Self {
        Self::Eval(Box::new(e))
    }
}

impl From<CheckpointError> for TrainError {
    fn from(e: CheckpointError) -> Self {
        Self::Checkpoint(Box::new(e))
    }
}

impl From<DataError> for TrainError {
    fn from(e: DataError) -> Self {
        Self::Report(Box::new(e))
    }
}

/// Trains `trainable` in place on `data` and saves the best (or, without dev evaluation, the
/// last) epoch to `out_dir` as a checkpoint, with [`REPORT_FILE`] in it. Checks `cancel`
/// between steps. A NaN or infinite loss stops the run with [`TrainError::NonFiniteLoss`] and
/// leaves the output directory as it was.
///
/// For a given seed the shuffling, the sampled negatives and the dropout masks are the same, so
/// a run on the same device repeats exactly: tested on the CPU (tests/train/trainer.rs), and seen
/// on the GPU (docs/BENCHMARKS.md), where it rests on cuBLAS choosing the same kernels.
pub fn train(
    trainable: &mut Trainable,
    data: &TrainData,
    cfg: &TrainConfig,
    out_dir: &Path,
    cancel: &AtomicBool,
    progress: &mut dyn FnMut(Progress),
) -> Result<TrainReport, TrainError> {
    check_config(cfg)?;
    if data.train.is_empty() {
        return Err(TrainError::NoTrainingData);
    }
    let started = Instant::now();
    let device = model_device(trainable)?;
    trainable.model.reseed_dropout(cfg.seed);
    let collecting = CollectingWeightGrads::start(trainable)?;
    let model_cfg = trainable.config.clone();
    let encoded: Vec<EncodedSentence> = data
        .train
        .iter()
        .map(|s| trainable.pieces.encode(&s.tokens, model_cfg.max_pieces))
        .collect();
    let gold = data
        .train
        .iter()
        .zip(&encoded)
        .enumerate()
        .map(|(i, (s, e))| GoldSentence::new(s, i, e.word_pieces.len(), data.types))
        .collect::<Result<Vec<_>, _>>()?;
    let sampling = SamplingConfig {
        neg_entity_count: cfg.neg_entity_count,
        neg_relation_count: cfg.neg_relation_count,
        max_span_width: model_cfg.max_span_width,
    };
    let steps_per_epoch = data.train.len().div_ceil(cfg.batch_size);
    let total_steps = steps_per_epoch * cfg.epochs;
    let schedule = LinearSchedule::new(cfg.lr, cfg.warmup_fraction, total_steps);
    let mut optimiser =
        Optimiser::new(&trainable.varmap, schedule, cfg.weight_decay, cfg.max_grad_norm)?;
    let mut rng = StdRng::seed_from_u64(cfg.seed);
    let relation_types = model_cfg.relation_types.len();
    let pad_id = trainable.pieces.pad_id;

    let mut report = TrainReport {
        epochs: Vec::new(),
        best_epoch: None,
        averaged: None,
        losses: Vec::new(),
        seconds: 0.0,
    };
    let mut average = WeightAverage::default();
    let mut best: Option<(f64, f64)> = None;
    let mut order: Vec<usize> = (0..data.train.len()).collect();
    let mut sentences_done = 0;
    for epoch in 1..=cfg.epochs {
        let epoch_started = Instant::now();
        order.shuffle(&mut rng);
        let batches = if cfg.length_batches {
            batches_by_length(&order, &encoded, cfg.batch_size, &mut rng)
        } else {
            order.chunks(cfg.batch_size).map(<[usize]>::to_vec).collect()
        };
        let mut loss_sum = 0f64;
        let mut phases = PhaseSeconds::default();
        for (i, chunk) in batches.iter().enumerate() {
            if cancel.load(Ordering::Relaxed) {
                return Err(TrainError::Cancelled { epoch, step: i });
            }
            let step_started = Instant::now();
            let samples: Vec<TrainSample> =
                chunk.iter().map(|&s| gold[s].sample(&sampling, &mut rng)).collect();
            let lr = optimiser.learning_rate();
            let batch_encoded: Vec<EncodedSentence> =
                chunk.iter().map(|&s| encoded[s].clone()).collect();
            let loss = step_loss(
                trainable,
                &batch_encoded,
                &samples,
                relation_types,
                pad_id,
                cfg.lambda,
                &device,
            )?;
            sentences_done += chunk.len();
            let Some(loss) = loss else {
                optimiser.skip();
                continue;
            };
            let value = loss.to_dtype(DType::F32)?.to_scalar::<f32>()?;
            if !value.is_finite() {
                return Err(TrainError::NonFiniteLoss { epoch, step: i + 1, loss: value });
            }
            let backward_started = Instant::now();
            phases.forward += (backward_started - step_started).as_secs_f64();
            let mut grads = loss.backward()?;
            collecting.0.merge_into(&mut grads)?;
            let optimiser_started = Instant::now();
            phases.backward += (optimiser_started - backward_started).as_secs_f64();
            optimiser.step(grads)?;
            phases.optimiser += optimiser_started.elapsed().as_secs_f64();
            loss_sum += f64::from(value);
            report.losses.push(value);
            let done = optimiser.steps_taken();
            let elapsed = started.elapsed();
            let eta = elapsed.mul_f64((total_steps - done) as f64 / done.max(1) as f64);
            progress(Progress::Step(StepProgress {
                epoch,
                epochs: cfg.epochs,
                step: done,
                total_steps,
                sentences: sentences_done,
                loss: value,
                epoch_loss: (loss_sum / (i + 1) as f64) as f32,
                lr,
                elapsed,
                eta,
            }));
        }
        let train_seconds = epoch_started.elapsed().as_secs_f64();
        let mut record = EpochRecord {
            epoch,
            loss: (loss_sum / steps_per_epoch as f64) as f32,
            steps: steps_per_epoch,
            train_seconds,
            sentences_per_second: data.train.len() as f64 / train_seconds.max(1e-9),
            phase_seconds: phases,
            eval_seconds: 0.0,
            dev: None,
            saved: false,
        };
        let averaging = cfg.average_last > 0;
        if averaging && epoch + cfg.average_last > cfg.epochs {
            average.add(trainable)?;
        }
        let save_now = match (data.dev, cfg.eval_every_epoch && !averaging) {
            (Some(dev), true) => {
                let eval_started = Instant::now();
                let scores = dev_scores(trainable, dev, data.types, cfg.eval_batch_size, &device)?;
                record.eval_seconds = eval_started.elapsed().as_secs_f64();
                record.dev = Some(scores);
                let key = (scores.relations_strict.f1, scores.entities.f1);
                let better = best.is_none_or(|b| key.0 > b.0 || (key.0 == b.0 && key.1 > b.1));
                if better {
                    best = Some(key);
                }
                better
            }
            _ => epoch == cfg.epochs,
        };
        if averaging && epoch == cfg.epochs {
            average.install(trainable)?;
            if let Some(dev) = data.dev {
                let eval_started = Instant::now();
                let scores = dev_scores(trainable, dev, data.types, cfg.eval_batch_size, &device)?;
                record.eval_seconds = eval_started.elapsed().as_secs_f64();
                record.dev = Some(scores);
                report.averaged = Some(scores);
            }
        }
        if save_now {
            if !weights_finite(trainable)? {
                return Err(TrainError::NonFiniteWeights { epoch });
            }
            let dtype = if cfg.half { DType::F16 } else { DType::F32 };
            checkpoint::save(
                out_dir,
                &trainable.varmap,
                &trainable.config,
                data.types,
                &trainable.pieces,
                dtype,
            )?;
            record.saved = true;
            report.best_epoch = Some(epoch);
        }
        report.epochs.push(record.clone());
        report.seconds = started.elapsed().as_secs_f64();
        if out_dir.is_dir() {
            write_report(
                &out_dir.join(REPORT_FILE),
                cfg,
                data,
                trainable,
                &report,
                epoch == cfg.epochs,
            )?;
        }
        progress(Progress::Epoch(record));
    }
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

/// One training step's forward and backward pass on `sentences`, with the gradients thrown
/// away and the weights untouched: the device's kernels, handles and memory pool are then
/// ready, so the first step of a run that follows on the same [`Device`] does not pay for
/// them. Dropout is reseeded by every run, so this leaves nothing behind.
pub fn rehearse(
    trainable: &Trainable,
    sentences: &[Sentence],
    types: &Types,
    device: &Device,
) -> Result<(), TrainError> {
    let collecting = CollectingWeightGrads::start(trainable)?;
    let model_cfg = &trainable.config;
    let sampling =
        SamplingConfig { max_span_width: model_cfg.max_span_width, ..SamplingConfig::default() };
    let mut rng = StdRng::seed_from_u64(0);
    let mut encoded = Vec::new();
    let mut samples = Vec::new();
    for (i, s) in sentences.iter().enumerate() {
        let e = trainable.pieces.encode(&s.tokens, model_cfg.max_pieces);
        samples
            .push(GoldSentence::new(s, i, e.word_pieces.len(), types)?.sample(&sampling, &mut rng));
        encoded.push(e);
    }
    let relation_types = model_cfg.relation_types.len();
    let pad_id = trainable.pieces.pad_id;
    if let Some(loss) =
        step_loss(trainable, &encoded, &samples, relation_types, pad_id, 1.0, device)?
    {
        let mut grads = loss.backward()?;
        // The fused nodes' gradients are taken too, so that none is left for the next run.
        collecting.0.merge_into(&mut grads)?;
    }
    Ok(())
}

/// Batches a CPU pads little: `order` (already shuffled) cut into pools of [`POOL_BATCHES`]
/// batches, each pool sorted by word-piece count and cut into batches, then the batches
/// shuffled, so that the long sentences do not all come at the end of an epoch. Every
/// sentence is in exactly one batch.
pub fn batches_by_length(
    order: &[usize],
    encoded: &[EncodedSentence],
    batch_size: usize,
    rng: &mut StdRng,
) -> Vec<Vec<usize>> {
    let mut batches = Vec::with_capacity(order.len().div_ceil(batch_size));
    for pool in order.chunks(batch_size * POOL_BATCHES) {
        let mut pool = pool.to_vec();
        pool.sort_by_key(|&s| encoded[s].ids.len());
        batches.extend(pool.chunks(batch_size).map(<[usize]>::to_vec));
    }
    batches.shuffle(rng);
    batches
}

/// Batches per pool of [`batches_by_length`]: enough for most batches to find sentences of a
/// similar length, few enough that which sentences meet in a batch still varies by epoch.
const POOL_BATCHES: usize = 8;

/// The running sum of the weights at the ends of epochs, for [`TrainConfig::average_last`]
/// (averaged weights generalise better than the last ones: Izmailov et al., 2018, "Averaging
/// Weights Leads to Wider Optima").
#[derive(Default)]
struct WeightAverage {
    sums: std::collections::HashMap<String, Tensor>,
    count: usize,
}

impl WeightAverage {
    fn add(&mut self, trainable: &Trainable) -> candle_core::Result<()> {
        let data = trainable
            .varmap
            .data()
            .lock()
            .map_err(|_| candle_core::Error::Msg("the weights' lock is poisoned".into()))?;
        for (name, var) in data.iter() {
            // An f32 copy: the optimiser updates the variable's storage in place.
            let value = var.as_tensor().to_dtype(DType::F32)?.copy()?;
            let sum = match self.sums.remove(name) {
                Some(sum) => (sum + value)?,
                None => value,
            };
            self.sums.insert(name.clone(), sum);
        }
        self.count += 1;
        Ok(())
    }

    /// Replaces every weight by its mean over the epochs added.
    fn install(&self, trainable: &Trainable) -> candle_core::Result<()> {
        if self.count == 0 {
            return Ok(());
        }
        let data = trainable
            .varmap
            .data()
            .lock()
            .map_err(|_| candle_core::Error::Msg("the weights' lock is poisoned".into()))?;
        for (name, var) in data.iter() {
            if let Some(sum) = self.sums.get(name) {
                let mean = (sum / self.count as f64)?.to_dtype(var.dtype())?;
                var.set(&mean)?;
            }
        }
        Ok(())
    }
}

/// The fused nodes hand their weights' gradients over directly while a run lasts
/// ([`crate::model::fused::WeightGrads`]); the guard stops that when the run ends, however it
/// ends, so that other users of the model get every gradient from `backward()` as usual.
struct CollectingWeightGrads(crate::model::fused::WeightGrads);

impl CollectingWeightGrads {
    fn start(trainable: &Trainable) -> candle_core::Result<Self> {
        let sink = trainable.model.encoder().weight_grads().clone();
        sink.set_collecting(true)?;
        Ok(Self(sink))
    }
}

impl Drop for CollectingWeightGrads {
    fn drop(&mut self) {
        let _ = self.0.set_collecting(false);
    }
}

fn check_config(cfg: &TrainConfig) -> Result<(), TrainError> {
    let bad = |what: String| Err(TrainError::Config(what));
    if cfg.epochs == 0 || cfg.batch_size == 0 || cfg.eval_batch_size == 0 {
        return bad("epochs and batch sizes must be at least 1".into());
    }
    if !(cfg.lr.is_finite() && cfg.lr > 0.0) {
        return bad(format!("learning rate {} must be positive", cfg.lr));
    }
    if !(0.0..=1.0).contains(&cfg.warmup_fraction) {
        return bad(format!("warm-up fraction {} must lie in [0, 1]", cfg.warmup_fraction));
    }
    if !(cfg.weight_decay >= 0.0 && cfg.max_grad_norm > 0.0 && cfg.lambda >= 0.0) {
        return bad(
            "weight decay and λ must not be negative, the clipping norm must be positive".into()
        );
    }
    Ok(())
}

fn model_device(trainable: &Trainable) -> candle_core::Result<Device> {
    let data = trainable
        .varmap
        .data()
        .lock()
        .map_err(|_| candle_core::Error::Msg("the weights' lock is poisoned".into()))?;
    Ok(data.values().next().map_or(Device::Cpu, |v| v.device().clone()))
}

/// Forward pass and loss of one batch; `None` when the batch has nothing to classify.
fn step_loss(
    trainable: &Trainable,
    encoded: &[EncodedSentence],
    samples: &[TrainSample],
    relation_types: usize,
    pad_id: u32,
    lambda: f64,
    device: &Device,
) -> candle_core::Result<Option<Tensor>> {
    let targets = LossTargets::new(samples, relation_types, device)?;
    if targets.span_count() == 0 {
        return Ok(None);
    }
    let batch = PieceBatch::from_encoded(encoded, pad_id, device)?;
    let spans = SpanBatch {
        pieces: encoded
            .iter()
            .zip(samples)
            .map(|(e, s)| {
                s.spans.iter().map(|sp| span_pieces(&e.word_pieces, sp.start, sp.end)).collect()
            })
            .collect(),
        widths: samples.iter().map(|s| s.spans.iter().map(|sp| sp.width()).collect()).collect(),
    };
    let pairs = PairBatch {
        pairs: samples.iter().map(|s| s.pairs.iter().map(|p| (p.head, p.tail)).collect()).collect(),
    };
    let (span_logits, relation_logits) = trainable.model.forward(&batch, &spans, &pairs, true)?;
    joint_loss(&span_logits, &relation_logits, &targets, lambda).map(Some)
}

/// Predicts `dev` with an inference copy of the current weights and scores it.
fn dev_scores(
    trainable: &Trainable,
    dev: &[Sentence],
    types: &Types,
    batch_size: usize,
    device: &Device,
) -> Result<DevScores, TrainError> {
    let frozen = trainable.model.frozen()?;
    let predictions = predict(&frozen, &trainable.pieces, dev, batch_size, device)?;
    let predicted: Vec<Sentence> =
        dev.iter().zip(&predictions).map(|(s, p)| p.to_sentence(&s.tokens)).collect();
    let evaluation = evaluate(dev, &predicted, types)?;
    Ok(DevScores {
        entities: evaluation.entities.micro,
        relations_strict: evaluation.relations_strict.micro,
        relations_boundaries: evaluation.relations_boundaries.micro,
    })
}

/// Whether every weight is finite (one read back to the host).
fn weights_finite(trainable: &Trainable) -> candle_core::Result<bool> {
    let sums = {
        let data = trainable
            .varmap
            .data()
            .lock()
            .map_err(|_| candle_core::Error::Msg("the weights' lock is poisoned".into()))?;
        data.values()
            .map(|v| v.as_tensor().to_dtype(DType::F32)?.abs()?.sum_all())
            .collect::<candle_core::Result<Vec<_>>>()?
    };
    if sums.is_empty() {
        return Ok(true);
    }
    Ok(Tensor::stack(&sums, 0)?.to_vec1::<f32>()?.iter().all(|v| v.is_finite()))
}

#[derive(Serialize)]
struct ReportFile<'a> {
    variant: &'a str,
    seed: u64,
    config: &'a TrainConfig,
    train_sentences: usize,
    dev_sentences: Option<usize>,
    finished: bool,
    #[serde(flatten)]
    report: &'a TrainReport,
}

fn write_report(
    path: &Path,
    cfg: &TrainConfig,
    data: &TrainData,
    trainable: &Trainable,
    report: &TrainReport,
    finished: bool,
) -> Result<(), TrainError> {
    let file = ReportFile {
        variant: trainable.config.variant(),
        seed: cfg.seed,
        config: cfg,
        train_sentences: data.train.len(),
        dev_sentences: data.dev.map(<[Sentence]>::len),
        finished,
        report,
    };
    let text = serde_json::to_string_pretty(&file)
        .map_err(|e| TrainError::Config(format!("cannot serialise the report: {e}")))?;
    write_atomic(path, text.as_bytes())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded(len: usize) -> EncodedSentence {
        EncodedSentence { ids: vec![0; len], word_pieces: Vec::new(), words_kept: 0 }
    }

    /// Pieces a batch is padded to, summed over the batches.
    fn padded(batches: &[Vec<usize>], sentences: &[EncodedSentence]) -> usize {
        batches
            .iter()
            .map(|b| b.len() * b.iter().map(|&s| sentences[s].ids.len()).max().unwrap_or(0))
            .sum()
    }

    #[test]
    fn length_batches_hold_every_sentence_once_and_pad_less() {
        let mut rng = StdRng::seed_from_u64(3);
        let sentences: Vec<EncodedSentence> = (0..70).map(|i| encoded(5 + (i * 37) % 90)).collect();
        let mut order: Vec<usize> = (0..sentences.len()).collect();
        order.shuffle(&mut rng);
        let batches = batches_by_length(&order, &sentences, 4, &mut rng);
        assert_eq!(batches.len(), 70usize.div_ceil(4));
        let mut seen: Vec<usize> = batches.iter().flatten().copied().collect();
        seen.sort_unstable();
        assert_eq!(seen, (0..70).collect::<Vec<_>>());
        let plain: Vec<Vec<usize>> = order.chunks(4).map(<[usize]>::to_vec).collect();
        let (by_length, random) = (padded(&batches, &sentences), padded(&plain, &sentences));
        assert!(by_length * 4 < random * 3, "{by_length} vs {random}");
        let again = batches_by_length(&order, &sentences, 4, &mut StdRng::seed_from_u64(3));
        assert_ne!(again, batches, "the batches' order follows the generator");
    }
}
