//! The ASpERT model (docs/MODEL.md: the paper's section 4) and its SpERT baseline (section 3): span
//! classifier with the attention contribution degree f_a and an MLP, relation classifier with
//! localized context.
//!
//! One encoder pass ([`Aspert::encode`]) serves both steps: [`Aspert::span_representations`]
//! builds E(s) (eq. 6) for any list of spans, [`Aspert::span_logits`] classifies them (eqs. 7-9
//! or eq. 3), and [`Aspert::relation_logits`] classifies pairs of those spans (eqs. 4-5). Training
//! feeds gold spans plus sampled negatives; inference feeds every candidate, then the pairs of
//! predicted entities.

use std::fmt;
use std::ops::Range;

use candle_core::{DType, Module, Result, Tensor, D};
use candle_nn::{Embedding, Linear, VarBuilder};
use serde::{Deserialize, Serialize};

use super::batch::{PairBatch, PieceBatch, SpanBatch};
use super::calibration::Calibration;
use super::config::BertConfig;
use super::contribution::{pool_spans, query_statistics, Fusion};
use super::encoder::{dense, BertEncoder, EncoderOutput};
use super::graphs;
use super::overlap::EntityDecoding;
use super::pooling::RangeMax;
use crate::data::types::Types;

/// Rows of the width embedding, as SpERT (`size_embedding = nn.Embedding(100, 25)`); wider
/// spans share the last row.
pub const WIDTH_EMBEDDING_ROWS: usize = 100;

/// The span classifier's structure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SpanClassifierKind {
    /// Linear, ReLU, dropout, linear (eqs. 8-9).
    Mlp,
    /// One linear layer (eq. 3; SpERT and `-MLP`).
    Linear,
}

/// Everything that fixes the model's shape and decoding: stored in every checkpoint.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct ModelConfig {
    /// The encoder's configuration.
    pub encoder: BertConfig,
    /// Entity type names; classifier output `i + 1` is type `i`, output 0 is `none`.
    pub entity_types: Vec<String>,
    /// Relation type names, one sigmoid output each.
    pub relation_types: Vec<String>,
    /// Per relation type, whether head → tail implies tail → head.
    pub symmetric_relations: Vec<bool>,
    /// Whether E(s) includes f_a (eq. 6); false for `-AC` and SpERT.
    pub attention_contribution: bool,
    /// MLP (eqs. 8-9) or linear (eq. 3) span classifier.
    pub span_classifier: SpanClassifierKind,
    /// How f_a fuses the thresholded attention.
    pub fusion: Fusion,
    /// Contribution threshold θ: attention values `<= θ` are zeroed.
    pub theta: f32,
    /// Width embedding size `n` (Table 3: 25).
    pub width_embedding_size: usize,
    /// Widest candidate span at inference, in words.
    pub max_span_width: usize,
    /// Hidden units `m` of the span MLP (Table 3: 784).
    pub mlp_size: usize,
    /// Dropout before the classifiers and inside the MLP, in training (Table 3: 0.1).
    pub dropout: f32,
    /// Relation threshold α: a relation type fires when its sigmoid exceeds it (Table 3: 0.4).
    pub relation_threshold: f32,
    /// Relation candidates classified per forward pass at inference (SpERT's `max_pairs`);
    /// more pairs are processed in further chunks.
    pub max_pairs: usize,
    /// Longest word-piece sequence fed to the encoder; words beyond it are not seen.
    pub max_pieces: usize,
    /// Entity types the span classifier has outputs for but does not predict yet: types the
    /// model was grown by and has not seen enough examples of (see `train::finetune`). Their
    /// outputs are left out at inference, so a grown model predicts what it did before.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub learning_entity_types: Vec<String>,
    /// Relation types not predicted yet, as [`ModelConfig::learning_entity_types`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub learning_relation_types: Vec<String>,
    /// Whether overlapping predicted spans all stay or only the best of them; `spanscope
    /// train` picks it from the training data (older checkpoints: nested).
    #[serde(default)]
    pub decoding: EntityDecoding,
    /// Temperatures of the reported scores, fitted on dev (`spanscope calibrate`); absent
    /// means uncalibrated.
    #[serde(default, skip_serializing_if = "Calibration::is_identity")]
    pub calibration: Calibration,
}

impl ModelConfig {
    /// ASpERT as in the paper: f_a on (mean fusion, θ = 0.5), MLP span classifier, Table 3
    /// hyper-parameters.
    pub fn aspert(encoder: BertConfig, types: &Types) -> Self {
        let max_pieces = encoder.max_position_embeddings.min(512);
        Self {
            encoder,
            entity_types: types.entities.iter().map(|t| t.name.clone()).collect(),
            relation_types: types.relations.iter().map(|t| t.name.clone()).collect(),
            symmetric_relations: types.relations.iter().map(|t| t.symmetric).collect(),
            attention_contribution: true,
            span_classifier: SpanClassifierKind::Mlp,
            fusion: Fusion::Mean,
            theta: 0.5,
            width_embedding_size: 25,
            max_span_width: 10,
            mlp_size: 784,
            dropout: 0.1,
            relation_threshold: 0.4,
            max_pairs: 1000,
            max_pieces,
            learning_entity_types: Vec::new(),
            learning_relation_types: Vec::new(),
            decoding: EntityDecoding::Nested,
            calibration: Calibration::default(),
        }
    }

    /// The SpERT baseline: no f_a, linear span classifier (eqs. 1-5).
    pub fn spert(encoder: BertConfig, types: &Types) -> Self {
        Self::aspert(encoder, types).without_attention_contribution().with_linear_classifier()
    }

    /// The `-AC` ablation: E(s) without f_a.
    pub fn without_attention_contribution(mut self) -> Self {
        self.attention_contribution = false;
        self
    }

    /// The `-MLP` ablation: a linear span classifier.
    pub fn with_linear_classifier(mut self) -> Self {
        self.span_classifier = SpanClassifierKind::Linear;
        self
    }

    /// The variant's name as the paper writes it: `ASpERT`, `ASpERT-AC`, `ASpERT-MLP` or
    /// `SpERT`.
    pub fn variant(&self) -> &'static str {
        match (self.attention_contribution, self.span_classifier) {
            (true, SpanClassifierKind::Mlp) => "ASpERT",
            (false, SpanClassifierKind::Mlp) => "ASpERT-AC",
            (true, SpanClassifierKind::Linear) => "ASpERT-MLP",
            (false, SpanClassifierKind::Linear) => "SpERT",
        }
    }

    /// Number of attention heads in all layers, `d_a` (length of f_a).
    pub fn head_count(&self) -> usize {
        self.encoder.num_hidden_layers * self.encoder.num_attention_heads
    }

    /// Width of E(s) (eq. 6, or eq. 1 without f_a).
    pub fn span_dim(&self) -> usize {
        let fa = if self.attention_contribution { self.head_count() } else { 0 };
        self.encoder.hidden_size + fa + self.width_embedding_size
    }

    /// Width of X(s) = E(s) ⊕ `h_[CLS]` (eq. 7).
    pub fn span_input_dim(&self) -> usize {
        self.span_dim() + self.encoder.hidden_size
    }

    /// Width of E(s1) ⊕ C(s1, s2) ⊕ E(s2) (eq. 4).
    pub fn relation_input_dim(&self) -> usize {
        2 * self.span_dim() + self.encoder.hidden_size
    }

    /// The configuration of the outputs predicted at inference: the learning types left out.
    pub fn predicting(&self) -> ModelConfig {
        let mut cfg = self.clone();
        let learning = |t: &String, list: &[String]| list.contains(t);
        cfg.entity_types.retain(|t| !learning(t, &self.learning_entity_types));
        let (relations, symmetric): (Vec<String>, Vec<bool>) = self
            .relation_types
            .iter()
            .cloned()
            .zip(self.symmetric_relations.iter().copied())
            .filter(|(t, _)| !learning(t, &self.learning_relation_types))
            .unzip();
        cfg.relation_types = relations;
        cfg.symmetric_relations = symmetric;
        cfg.learning_entity_types.clear();
        cfg.learning_relation_types.clear();
        cfg
    }

    /// Checks that the configuration describes a model that can be built.
    pub fn validate(&self) -> std::result::Result<(), String> {
        self.encoder.validate()?;
        if self.symmetric_relations.len() != self.relation_types.len() {
            return Err(format!(
                "{} relation types but {} symmetric flags",
                self.relation_types.len(),
                self.symmetric_relations.len()
            ));
        }
        if self.max_span_width == 0 || self.max_pairs == 0 {
            return Err("max_span_width and max_pairs must be at least 1".into());
        }
        if self.max_pieces < 3 || self.max_pieces > self.encoder.max_position_embeddings {
            return Err(format!(
                "max_pieces {} must lie in 3..={}",
                self.max_pieces, self.encoder.max_position_embeddings
            ));
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return Err(format!("dropout {} must lie in [0, 1)", self.dropout));
        }
        Ok(())
    }
}

impl fmt::Display for ModelConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.variant())?;
        if self.attention_contribution {
            write!(f, " (f_a: {} fusion, θ = {})", self.fusion, self.theta)?;
        }
        Ok(())
    }
}

/// The span classifier (eq. 3 or eqs. 8-9).
#[derive(Debug, Clone)]
enum SpanClassifier {
    Mlp { hidden: Linear, out: Linear },
    Linear { out: Linear },
}

/// One encoder pass over a [`PieceBatch`], shared by the span and relation steps.
#[derive(Debug, Clone)]
pub struct Encoding {
    /// Last hidden layer, `[B, T, H]`.
    pub hidden: Tensor,
    /// Attention probabilities, `[B, L, heads, T, T]` (f32); `None` for a packed encoding
    /// ([`Aspert::encode_packed`]), which keeps only f_a's statistics of them.
    attentions: Option<Tensor>,
    /// Real pieces per sentence.
    pub lengths: Vec<usize>,
    /// Max over any piece range of `hidden` (spans and relation context).
    hidden_max: RangeMax,
    /// Per-query f_a statistics `[B, T, L * heads]` in the hidden dtype, when f_a is on.
    fa_stats: Option<Tensor>,
}

impl Encoding {
    /// `n` copies of item 0, for variants of one sentence's prediction in one pass. With
    /// `fa_keep` `[n, layers · heads]`, row `r`'s f_a feature of head `i` is multiplied by
    /// `fa_keep[r, i]` (0 ablates that head on the attention path only, the encoder unchanged).
    pub fn repeat_first(&self, n: usize, fa_keep: Option<&Tensor>) -> Result<Encoding> {
        let repeat = |x: &Tensor| -> Result<Tensor> {
            let mut dims = x.dims().to_vec();
            dims[0] = n;
            x.narrow(0, 0, 1)?.broadcast_as(dims)?.contiguous()
        };
        let hidden = repeat(&self.hidden)?;
        let fa_stats = match (&self.fa_stats, fa_keep) {
            (Some(stats), Some(keep)) => {
                let (_, t, d) = stats.dims3()?;
                let keep = keep.to_dtype(stats.dtype())?.reshape((n, 1, d))?;
                Some(stats.narrow(0, 0, 1)?.broadcast_as((n, t, d))?.broadcast_mul(&keep)?)
            }
            (Some(stats), None) => Some(repeat(stats)?),
            (None, _) => None,
        };
        let first = self.lengths.first().copied().unwrap_or(0);
        Ok(Encoding {
            hidden_max: RangeMax::new(&hidden)?,
            hidden,
            // A view, not a copy: the classifiers do not read the probabilities.
            attentions: self
                .attentions
                .as_ref()
                .map(|a| {
                    let mut dims = a.dims().to_vec();
                    dims[0] = n;
                    a.narrow(0, 0, 1)?.broadcast_as(dims)
                })
                .transpose()?,
            lengths: vec![first; n],
            fa_stats,
        })
    }

    /// Whether f_a is part of the span representation.
    pub fn has_attention_contribution(&self) -> bool {
        self.fa_stats.is_some()
    }

    /// The attention probabilities, `[B, L, heads, T, T]` (f32); an error for a packed
    /// encoding, which does not keep them.
    pub fn attentions(&self) -> Result<&Tensor> {
        self.attentions.as_ref().ok_or_else(|| {
            candle_core::Error::Msg(
                "a packed encoding keeps no attention probabilities; encode the batch padded"
                    .into(),
            )
        })
    }
}

/// ASpERT (or SpERT, or an ablation, as its [`ModelConfig`] says).
#[derive(Debug, Clone)]
pub struct Aspert {
    encoder: BertEncoder,
    width_embedding: Embedding,
    span_classifier: SpanClassifier,
    relation_classifier: Linear,
    /// For weights that do not train, the inference forms of the first span layer and the
    /// relation classifier, made once ([`Aspert::span_parts`], [`Aspert::relation_parts`]).
    inference: Option<InferenceWeights>,
    /// Identity of the weights for recorded encoder graphs ([`graphs`]); clones share it.
    graph_id: u64,
    cfg: ModelConfig,
    stages: StageSpans,
}

/// `TRACE` spans of the stages after the encoder (docs/BENCHMARKS.md, "Stage spans").
#[derive(Debug, Clone)]
struct StageSpans {
    fa_statistics: tracing::Span,
    span_classifier: tracing::Span,
    relation_classifier: tracing::Span,
}

impl StageSpans {
    fn new() -> Self {
        Self {
            fa_statistics: tracing::span!(tracing::Level::TRACE, "f_a statistics"),
            span_classifier: tracing::span!(tracing::Level::TRACE, "span classifier"),
            relation_classifier: tracing::span!(tracing::Level::TRACE, "relation classifier"),
        }
    }
}

/// A layer's weight `W` cut by input columns into the parts that multiply each piece of a
/// concatenated input, each transposed and contiguous (`[part width, outputs]`) for a plain
/// matrix product: `W·(a ⊕ b) = a·W_aᵀ + b·W_bᵀ` needs no concatenation, and a part whose
/// input repeats (`h_[CLS]` for every span of a sentence, an entity for each of its pairs)
/// is multiplied once.
#[derive(Debug, Clone)]
struct InferenceWeights {
    /// The first span layer: `[E(s) | h_[CLS]]`.
    span: Vec<Tensor>,
    /// The relation classifier's `[E(s1) | C | E(s2)]` as two parts: the `E(s1)` and
    /// `E(s2)` parts side by side (`[span dim, 2 · types]`, one product for both ends of
    /// every pair), then the `C` part.
    relation: Vec<Tensor>,
}

impl SpanClassifier {
    /// The layer that reads X(s).
    fn first(&self) -> &Linear {
        match self {
            Self::Mlp { hidden, .. } => hidden,
            Self::Linear { out } => out,
        }
    }
}

/// `w`'s columns cut into consecutive parts of the given widths, each transposed and
/// contiguous.
fn column_parts(w: &Tensor, widths: &[usize]) -> Result<Vec<Tensor>> {
    let mut offset = 0;
    widths
        .iter()
        .map(|&width| {
            let part = w.narrow(1, offset, width)?.t()?.contiguous();
            offset += width;
            part
        })
        .collect()
}

impl Aspert {
    /// Builds the model from `vb`: the encoder under `bert.`, the heads under
    /// `width_embedding`, `span_classifier.{hidden,out}` (or `span_classifier.out`) and
    /// `relation_classifier`.
    pub fn new(vb: VarBuilder, cfg: &ModelConfig) -> Result<Self> {
        cfg.validate()
            .map_err(|reason| candle_core::Error::Msg(format!("bad model config: {reason}")))?;
        let encoder = BertEncoder::load(vb.pp("bert"), &cfg.encoder)?;
        let width_embedding = candle_nn::embedding(
            WIDTH_EMBEDDING_ROWS.max(cfg.max_span_width + 1),
            cfg.width_embedding_size,
            vb.pp("width_embedding"),
        )?;
        let classes = cfg.entity_types.len() + 1;
        let sc = vb.pp("span_classifier");
        let span_classifier = match cfg.span_classifier {
            SpanClassifierKind::Mlp => SpanClassifier::Mlp {
                hidden: candle_nn::linear(cfg.span_input_dim(), cfg.mlp_size, sc.pp("hidden"))?,
                out: candle_nn::linear(cfg.mlp_size, classes, sc.pp("out"))?,
            },
            SpanClassifierKind::Linear => SpanClassifier::Linear {
                out: candle_nn::linear(cfg.span_input_dim(), classes, sc.pp("out"))?,
            },
        };
        let relation_classifier = candle_nn::linear(
            cfg.relation_input_dim(),
            cfg.relation_types.len(),
            vb.pp("relation_classifier"),
        )?;
        let mut model = Self {
            encoder,
            width_embedding,
            span_classifier,
            relation_classifier,
            inference: None,
            graph_id: graphs::next_model_id(),
            cfg: cfg.clone(),
            stages: StageSpans::new(),
        };
        if !model.relation_classifier.weight().is_variable() {
            model.leave_out_learning_types()?;
            model.inference = Some(model.inference_weights()?);
        }
        Ok(model)
    }

    /// For inference: keeps only the classifier rows of the types the model predicts (see
    /// [`ModelConfig::learning_entity_types`]). The rows kept are copied exactly and the
    /// products keep their shapes, so the outputs are bit for bit those of the model before it
    /// was grown.
    fn leave_out_learning_types(&mut self) -> Result<()> {
        let cfg = &self.cfg;
        if cfg.learning_entity_types.is_empty() && cfg.learning_relation_types.is_empty() {
            return Ok(());
        }
        let kept = |names: &[String], learning: &[String], first: u32| -> Vec<u32> {
            let rows = names.iter().enumerate().filter(|(_, t)| !learning.contains(t));
            (0..first).chain(rows.map(|(i, _)| i as u32 + first)).collect()
        };
        let entity_rows = kept(&cfg.entity_types, &cfg.learning_entity_types, 1);
        let relation_rows = kept(&cfg.relation_types, &cfg.learning_relation_types, 0);
        let rows = |layer: &Linear, rows: &[u32]| -> Result<Linear> {
            let index = Tensor::new(rows, layer.weight().device())?;
            let weight = layer.weight().index_select(&index, 0)?;
            let bias = layer.bias().map(|b| b.index_select(&index, 0)).transpose()?;
            Ok(Linear::new(weight, bias))
        };
        match &mut self.span_classifier {
            SpanClassifier::Mlp { out, .. } | SpanClassifier::Linear { out } => {
                *out = rows(out, &entity_rows)?;
            }
        }
        self.relation_classifier = rows(&self.relation_classifier, &relation_rows)?;
        self.cfg = self.cfg.predicting();
        Ok(())
    }

    /// The first span layer and the relation classifier cut for inference, as kept for
    /// weights that do not train.
    fn inference_weights(&self) -> Result<InferenceWeights> {
        Ok(InferenceWeights { span: self.span_parts()?, relation: self.relation_parts()? })
    }

    /// The first span layer cut into its `E(s)` and `h_[CLS]` parts: kept for weights that do
    /// not train, cut on each call for weights that do (they change).
    fn span_parts(&self) -> Result<Vec<Tensor>> {
        match &self.inference {
            Some(ready) => Ok(ready.span.clone()),
            None => column_parts(
                self.span_classifier.first().weight(),
                &[self.cfg.span_dim(), self.cfg.encoder.hidden_size],
            ),
        }
    }

    /// The relation classifier cut into its entity parts (`E(s1)` and `E(s2)` side by side)
    /// and its `C` part, kept or cut as [`Aspert::span_parts`].
    fn relation_parts(&self) -> Result<Vec<Tensor>> {
        match &self.inference {
            Some(ready) => Ok(ready.relation.clone()),
            None => {
                let (span_dim, hidden) = (self.cfg.span_dim(), self.cfg.encoder.hidden_size);
                let parts =
                    column_parts(self.relation_classifier.weight(), &[span_dim, hidden, span_dim])?;
                Ok(vec![Tensor::cat(&[&parts[0], &parts[2]], 1)?, parts[1].clone()])
            }
        }
    }

    /// A copy for inference that owns its weights (later training of `self` does not change
    /// it), tracks no gradients and runs the encoder's fast path: predict with this after
    /// fine-tuning through a `VarMap`.
    pub fn frozen(&self) -> Result<Self> {
        let own = |t: &Tensor| -> Result<Tensor> { Ok(t.copy()?.detach()) };
        let linear = |l: &Linear| -> Result<Linear> {
            Ok(Linear::new(own(l.weight())?, l.bias().map(own).transpose()?))
        };
        let span_classifier = match &self.span_classifier {
            SpanClassifier::Mlp { hidden, out } => {
                SpanClassifier::Mlp { hidden: linear(hidden)?, out: linear(out)? }
            }
            SpanClassifier::Linear { out } => SpanClassifier::Linear { out: linear(out)? },
        };
        let mut frozen = Self {
            encoder: self.encoder.frozen()?,
            width_embedding: Embedding::new(
                own(self.width_embedding.embeddings())?,
                self.cfg.width_embedding_size,
            ),
            span_classifier,
            relation_classifier: linear(&self.relation_classifier)?,
            inference: None,
            graph_id: graphs::next_model_id(),
            cfg: self.cfg.clone(),
            stages: self.stages.clone(),
        };
        frozen.leave_out_learning_types()?;
        frozen.inference = Some(frozen.inference_weights()?);
        Ok(frozen)
    }

    /// The model's configuration.
    pub fn config(&self) -> &ModelConfig {
        &self.cfg
    }

    /// Replaces how predictions are decoded and scored; the weights and their shapes stay.
    pub fn set_decoding(&mut self, decoding: EntityDecoding, calibration: Calibration) {
        self.cfg.decoding = decoding;
        self.cfg.calibration = calibration;
    }

    /// Restarts the dropout masks of the encoder and the heads from `seed`: training runs
    /// with the same seed, data and device then repeat exactly.
    pub fn reseed_dropout(&self, seed: u64) {
        self.encoder.dropout_stream().reseed(seed);
    }

    /// The encoder.
    pub fn encoder(&self) -> &BertEncoder {
        &self.encoder
    }

    /// Runs the encoder once and prepares the pooling tables both classifiers use.
    pub fn encode(&self, batch: &PieceBatch, train: bool) -> Result<Encoding> {
        // Inference copies replay the stage as a CUDA graph on the GPU (model::graphs).
        let recorded = match (train, self.inference.is_some()) {
            (false, true) => graphs::encode(self.graph_id, batch, batch.input_ids.device(), |b| {
                self.encoder_outputs(b, false)
            })?,
            _ => None,
        };
        let (hidden, attentions, fa_stats) = match recorded {
            Some(outputs) => outputs,
            None => self.encoder_outputs(batch, train)?,
        };
        Ok(Encoding {
            hidden_max: RangeMax::new(&hidden)?,
            hidden,
            attentions: Some(attentions),
            lengths: batch.lengths.clone(),
            fa_stats,
        })
    }

    /// Whether [`Aspert::encode_packed`] can run: an inference copy ([`Aspert::frozen`]) whose
    /// encoder packs ([`BertEncoder::packs`]: the CPU).
    pub fn packs(&self) -> bool {
        self.inference.is_some() && self.encoder.packs()
    }

    /// The encodings of `sequences` (word-piece ids, each `[CLS] ... [SEP]`) cut into
    /// consecutive groups of `group` sentences, from one packed encoder pass over all of them
    /// (no compute on padding; sort the sentences by length first). Each encoding is that of
    /// [`Aspert::encode`] on its group's padded batch for the classifiers, up to the order of
    /// floating-point sums, but keeps no attention probabilities: f_a's statistics are
    /// taken from each layer's probabilities as the pass computes them.
    pub fn encode_packed(&self, sequences: &[&[u32]], group: usize) -> Result<Vec<Encoding>> {
        if !self.packs() {
            candle_core::bail!("packed encoding needs an inference copy of the model on the CPU");
        }
        let layers = self.cfg.encoder.num_hidden_layers;
        // Per run, per layer: the statistics `[count, length, heads]`.
        let mut stats: Vec<Vec<Tensor>> = Vec::new();
        let fa = self.cfg.attention_contribution;
        let out = self.encoder.forward_packed(sequences, |layer, run, probs| {
            if !fa {
                return Ok(());
            }
            let _enter = self.stages.fa_statistics.enter();
            let (g, _, t, _) = probs.dims4()?;
            let keys = Tensor::ones((g, t), DType::U32, probs.device())?;
            let (theta, fusion) = (self.cfg.theta, self.cfg.fusion);
            let layer_stats = query_statistics(&probs.unsqueeze(1)?, &keys, theta, fusion)?;
            if layer == 0 {
                stats.push(Vec::with_capacity(layers));
            }
            stats[run].push(layer_stats);
            Ok(())
        })?;
        // `[N, L · heads]`, rows in sentence order, columns `l · heads + h` as `query_statistics`.
        let stats = if fa {
            let per_run: Vec<Tensor> = stats
                .iter()
                .zip(&out.runs)
                .map(|(layers, run)| {
                    let d = layers.iter().map(|s| s.dim(2)).sum::<Result<usize>>()?;
                    Tensor::cat(layers, 2)?.reshape((run.count * run.length, d))
                })
                .collect::<Result<_>>()?;
            Some(Tensor::cat(&per_run, 0)?)
        } else {
            None
        };
        let lengths: Vec<usize> = sequences.iter().map(|s| s.len()).collect();
        let mut encodings = Vec::with_capacity(lengths.len().div_ceil(group.max(1)));
        let mut offset = 0;
        for own in lengths.chunks(group.max(1)) {
            let hidden = pad_rows(&out.hidden, offset, own)?;
            let fa_stats = stats.as_ref().map(|s| pad_rows(s, offset, own)).transpose()?;
            offset += own.iter().sum::<usize>();
            encodings.push(Encoding {
                hidden_max: RangeMax::new(&hidden)?,
                hidden,
                attentions: None,
                lengths: own.to_vec(),
                fa_stats,
            });
        }
        Ok(encodings)
    }

    /// The encoder stage's device work: hidden states, attention probabilities and the f_a
    /// statistics (reads nothing of `batch` on the host but its shape).
    fn encoder_outputs(&self, batch: &PieceBatch, train: bool) -> Result<graphs::EncoderOutputs> {
        let out = self.encoder.forward(&batch.input_ids, &batch.attention_mask, train)?;
        let fa_stats = self.fa_statistics(&out, batch)?;
        Ok((out.hidden, out.attentions, fa_stats))
    }

    /// f_a's per-query statistics of an encoder pass, when the model uses f_a.
    fn fa_statistics(&self, out: &EncoderOutput, batch: &PieceBatch) -> Result<Option<Tensor>> {
        if !self.cfg.attention_contribution {
            return Ok(None);
        }
        let _enter = self.stages.fa_statistics.enter();
        let stats = query_statistics(
            &out.attentions,
            &batch.attention_mask,
            self.cfg.theta,
            self.cfg.fusion,
        )?;
        Ok(Some(stats.to_dtype(out.hidden.dtype())?))
    }

    /// The [`Encoding`] of an encoder pass run elsewhere: the explanation path
    /// ([`BertEncoder::forward_explained`]) feeds the classifiers through this.
    pub fn encoding_of(&self, out: EncoderOutput, batch: &PieceBatch) -> Result<Encoding> {
        let fa_stats = self.fa_statistics(&out, batch)?;
        Ok(Encoding {
            hidden_max: RangeMax::new(&out.hidden)?,
            hidden: out.hidden,
            attentions: Some(out.attentions),
            lengths: batch.lengths.clone(),
            fa_stats,
        })
    }

    /// E(s) for every span, `[B, S, span_dim]` (eq. 6; eq. 1 without f_a):
    /// max-pool of the span's hidden states ⊕ f_a(s) ⊕ w_k.
    pub fn span_representations(&self, enc: &Encoding, spans: &SpanBatch) -> Result<Tensor> {
        let _enter = self.stages.span_classifier.enter();
        let (batch, _, _) = enc.hidden.dims3()?;
        if spans.pieces.len() != batch || spans.widths.len() != batch {
            candle_core::bail!("{} span lists for a batch of {batch}", spans.pieces.len());
        }
        let n = spans.max_spans();
        if n == 0 {
            return Tensor::zeros(
                (batch, 0, self.cfg.span_dim()),
                enc.hidden.dtype(),
                enc.hidden.device(),
            );
        }
        let pooled = enc.hidden_max.query(&spans.pieces)?;
        let mut widths = Vec::with_capacity(batch * n);
        let last = self.width_embedding.embeddings().dim(0)? - 1;
        for list in &spans.widths {
            widths.extend((0..n).map(|i| list.get(i).map_or(0, |w| (*w).min(last)) as u32));
        }
        let widths = Tensor::from_vec(widths, (batch, n), enc.hidden.device())?;
        let width = self.width_embedding.forward(&widths)?.to_dtype(enc.hidden.dtype())?;
        match &enc.fa_stats {
            Some(stats) => {
                let fa = pool_spans(stats, &spans.pieces, &enc.lengths, self.cfg.fusion)?;
                Tensor::cat(&[&pooled, &fa, &width], D::Minus1)
            }
            None => Tensor::cat(&[&pooled, &width], D::Minus1),
        }
    }

    /// Span class logits `[B, S, 1 + entity types]` (index 0 is `none`) from E(s):
    /// X(s) = E(s) ⊕ `h_[CLS]` (eq. 7), then eqs. 8-9 (MLP) or eq. 3 (linear), before softmax.
    pub fn span_logits(&self, enc: &Encoding, span_repr: &Tensor, train: bool) -> Result<Tensor> {
        let _enter = self.stages.span_classifier.enter();
        let (batch, n, _) = span_repr.dims3()?;
        if n == 0 {
            let classes = self.cfg.entity_types.len() + 1;
            return Tensor::zeros((batch, 0, classes), span_repr.dtype(), span_repr.device());
        }
        if !train {
            return self.span_logits_inference(enc, span_repr);
        }
        let hidden = enc.hidden.dim(2)?;
        // Contiguous before the concatenation: a broadcast operand makes candle's `cat` return
        // a strided layout that CUDA's matmul rejects.
        let cls = enc.hidden.narrow(1, 0, 1)?.broadcast_as((batch, n, hidden))?.contiguous()?;
        let x = self.dropout(&Tensor::cat(&[span_repr, &cls], D::Minus1)?, train)?;
        match &self.span_classifier {
            SpanClassifier::Mlp { hidden, out } => {
                let sink = self.encoder.weight_grads();
                let y = self.dropout(&dense(hidden, &x, sink)?.relu()?, train)?;
                dense(out, &y, sink)
            }
            SpanClassifier::Linear { out } => dense(out, &x, self.encoder.weight_grads()),
        }
    }

    /// [`Aspert::span_logits`] without dropout, the first layer cut in two: W·(E(s) ⊕
    /// `h_[CLS]`) = W_E·E(s) + W_cls·`h_[CLS]`, the second term once per sentence, not per
    /// span (`h_[CLS]` is 384 of MiniLM's 865 inputs), and no `[B, S, 865]` concatenation.
    fn span_logits_inference(&self, enc: &Encoding, span_repr: &Tensor) -> Result<Tensor> {
        let (batch, n, dim) = span_repr.dims3()?;
        let parts = self.span_parts()?;
        let outputs = parts[0].dim(1)?;
        let per_sentence = self.span_cls_term(enc, &parts[1])?;
        let per_span = span_repr.contiguous()?.reshape((batch * n, dim))?.matmul(&parts[0])?;
        let y = per_span
            .reshape((batch, n, outputs))?
            .broadcast_add(&per_sentence.reshape((batch, 1, outputs))?)?;
        self.span_after_first_layer(y)
    }

    /// The span classifier after its first layer's output `y`: ReLU and the output layer for
    /// the MLP, nothing for the linear classifier.
    fn span_after_first_layer(&self, y: Tensor) -> Result<Tensor> {
        match &self.span_classifier {
            SpanClassifier::Mlp { out, .. } => dense(out, &y.relu()?, self.encoder.weight_grads()),
            SpanClassifier::Linear { .. } => Ok(y),
        }
    }

    /// The first span layer's `h_[CLS]` term and bias, once per sentence: `[B, outputs]`.
    fn span_cls_term(&self, enc: &Encoding, cls_part: &Tensor) -> Result<Tensor> {
        let cls = enc.hidden.narrow(1, 0, 1)?.squeeze(1)?.contiguous()?;
        let per_sentence = cls.matmul(cls_part)?;
        match self.span_classifier.first().bias() {
            Some(bias) => per_sentence.broadcast_add(bias),
            None => Ok(per_sentence),
        }
    }

    /// Span class probabilities at inference, `[B, S, 1 + entity types]` (f32, softmax of
    /// [`Aspert::span_logits`]), the classifier run on the listed spans only, not on the
    /// padding of shorter lists: rows past a sentence's list are zeros.
    pub fn span_probabilities(
        &self,
        enc: &Encoding,
        span_repr: &Tensor,
        spans: &SpanBatch,
    ) -> Result<Tensor> {
        let _enter = self.stages.span_classifier.enter();
        let (batch, n, dim) = span_repr.dims3()?;
        let classes = self.cfg.entity_types.len() + 1;
        let device = span_repr.device();
        if spans.pieces.len() != batch {
            candle_core::bail!("{} span lists for a batch of {batch}", spans.pieces.len());
        }
        let listed: usize = spans.pieces.iter().map(|l| l.len().min(n)).sum();
        if listed == 0 {
            return Tensor::zeros((batch, n, classes), DType::F32, device);
        }
        // The listed spans' rows of the flat `[B · S]` representations and their sentences;
        // each flat row's place among them, the padding rows pointing at a zero row after.
        let (mut rows, mut sentence) = (Vec::with_capacity(listed), Vec::with_capacity(listed));
        let mut place = Vec::with_capacity(batch * n);
        for (b, list) in spans.pieces.iter().enumerate() {
            for i in 0..n {
                if i < list.len() {
                    place.push(rows.len() as u32);
                    rows.push((b * n + i) as u32);
                    sentence.push(b as u32);
                } else {
                    place.push(listed as u32);
                }
            }
        }
        let index = |v: Vec<u32>| {
            let len = v.len();
            Tensor::from_vec(v, len, device)
        };
        let parts = self.span_parts()?;
        let x = span_repr.reshape((batch * n, dim))?.index_select(&index(rows)?, 0)?;
        let per_sentence = self.span_cls_term(enc, &parts[1])?;
        let y = x.matmul(&parts[0])?.add(&per_sentence.index_select(&index(sentence)?, 0)?)?;
        let logits = self.span_after_first_layer(y)?;
        let probs = candle_nn::ops::softmax_last_dim(&logits)?.to_dtype(DType::F32)?;
        Tensor::cat(&[&probs, &Tensor::zeros((1, classes), DType::F32, device)?], 0)?
            .index_select(&index(place)?, 0)?
            .reshape((batch, n, classes))
    }

    /// Relation logits `[B, P, relation types]` (eqs. 4-5 before the sigmoid) for ordered pairs
    /// of spans: E(s1) ⊕ C(s1, s2) ⊕ E(s2), C the max-pool of the pieces strictly between the
    /// spans, zeros when they touch or overlap.
    pub fn relation_logits(
        &self,
        enc: &Encoding,
        span_repr: &Tensor,
        spans: &SpanBatch,
        pairs: &PairBatch,
        train: bool,
    ) -> Result<Tensor> {
        let _enter = self.stages.relation_classifier.enter();
        let (batch, n, dim) = span_repr.dims3()?;
        let p = pairs.max_pairs();
        if p == 0 {
            let types = self.cfg.relation_types.len();
            return Tensor::zeros((batch, p, types), span_repr.dtype(), span_repr.device());
        }
        let context = enc.hidden_max.query(&pairs.contexts(spans)?)?;
        let (mut heads, mut tails) = (Vec::with_capacity(batch * p), Vec::with_capacity(batch * p));
        for b in 0..batch {
            let list = pairs.pairs.get(b).map(Vec::as_slice).unwrap_or(&[]);
            for i in 0..p {
                let (h, t) = list.get(i).copied().unwrap_or((0, 0));
                heads.push((b * n + h) as u32);
                tails.push((b * n + t) as u32);
            }
        }
        let device = span_repr.device();
        let flat = span_repr.reshape((batch * n, dim))?;
        let rows = batch * p;
        if train {
            let heads = Tensor::from_vec(heads, rows, device)?;
            let tails = Tensor::from_vec(tails, rows, device)?;
            // Dropout masks per pair need the concatenation itself.
            let pick = |idx: &Tensor| flat.index_select(idx, 0)?.reshape((batch, p, dim));
            let x = Tensor::cat(&[&pick(&heads)?, &context, &pick(&tails)?], D::Minus1)?;
            let sink = self.encoder.weight_grads();
            return dense(&self.relation_classifier, &self.dropout(&x, true)?, sink);
        }
        // W·(E1 ⊕ C ⊕ E2) = W_1·E1 + W_c·C + W_2·E2: the entity parts once per span, not per
        // pair, both in one product, and no [P, 2·span_dim + H] concatenation. The pairs'
        // heads, then their tails, pick rows of that product in one gather.
        let parts = self.relation_parts()?;
        let hidden = context.dim(2)?;
        let types = parts[1].dim(1)?;
        let ends = [heads, tails].concat();
        let ends =
            flat.matmul(&parts[0])?.index_select(&Tensor::from_vec(ends, 2 * rows, device)?, 0)?;
        let head_scores = ends.narrow(0, 0, rows)?.narrow(1, 0, types)?;
        let tail_scores = ends.narrow(0, rows, rows)?.narrow(1, types, types)?;
        let context_scores = context.reshape((rows, hidden))?.matmul(&parts[1])?;
        let mut logits = ((head_scores + context_scores)? + tail_scores)?;
        if let Some(bias) = self.relation_classifier.bias() {
            logits = logits.broadcast_add(bias)?;
        }
        logits.reshape((batch, p, types))
    }

    /// Span and relation logits in one call sharing one encoder pass: `([B, S, 1 + E],
    /// [B, P, R])`.
    pub fn forward(
        &self,
        batch: &PieceBatch,
        spans: &SpanBatch,
        pairs: &PairBatch,
        train: bool,
    ) -> Result<(Tensor, Tensor)> {
        let enc = self.encode(batch, train)?;
        let repr = self.span_representations(&enc, spans)?;
        let span_logits = self.span_logits(&enc, &repr, train)?;
        let relation_logits = self.relation_logits(&enc, &repr, spans, pairs, train)?;
        Ok((span_logits, relation_logits))
    }

    fn dropout(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        if train && self.cfg.dropout > 0.0 {
            let key = self.encoder.dropout_stream().next_key();
            crate::model::fused::dropout(x, self.cfg.dropout, key)
        } else {
            Ok(x.clone())
        }
    }
}

/// f_a of one word-piece range of item `b` of an encoding, from its attentions with the given
/// θ and fusion (not necessarily the model's).
pub fn encoding_contribution(
    enc: &Encoding,
    b: usize,
    pieces: Range<usize>,
    theta: f32,
    fusion: Fusion,
) -> Result<super::contribution::Contribution> {
    let attentions = enc.attentions()?.get(b)?;
    let real = enc.lengths.get(b).copied().unwrap_or(0);
    super::contribution::span_contribution(
        &attentions.to_dtype(DType::F32)?,
        pieces,
        real,
        theta,
        fusion,
    )
}

/// The rows of consecutive sentences of `lengths`, from row `offset` of packed rows `[N, D]`,
/// as a padded batch `[B, T, D]`, T the longest; padding rows are zeros, which nothing reads.
fn pad_rows(rows: &Tensor, offset: usize, lengths: &[usize]) -> Result<Tensor> {
    let t = lengths.iter().copied().max().unwrap_or(0);
    let mut start = offset;
    let padded = lengths
        .iter()
        .map(|&n| {
            let own = rows.narrow(0, start, n)?.pad_with_zeros(0, 0, t - n);
            start += n;
            own
        })
        .collect::<Result<Vec<_>>>()?;
    Tensor::stack(&padded, 0)
}
