//! Explanations of one ASpERT prediction: an entity (the predicted type's log-probability) or
//! a relation (its logit), through the gated encoder of [`super::heads`].
//!
//! An [`Explainer`] fixes the sentence, the target and the label explained, and answers:
//! - head importance, |∂score/∂ξ_h| at ξ = 1 ([`Explainer::importance`]);
//! - exact ablation of sets of heads, in the encoder or on f_a only ([`Explainer::ablate`],
//!   every single head at once with [`Explainer::sweep`]);
//! - the smallest flip set, greedily ([`Explainer::flip_set`]);
//! - word attributions by integrated gradients on the word embeddings
//!   ([`Explainer::words`]) and word masking with `[MASK]` ([`Explainer::mask_words`]).
//!
//! Every reading comes from the explanation path (composed ops, f32), so "nothing masked"
//! reads the same in all of them; it agrees with the ordinary inference path within rounding.
//! Scores are the classifiers' raw outputs; the probabilities shown carry the model's
//! calibration, as everywhere else.

use std::ops::Range;

use candle_core::{DType, Device, Result, Tensor, Var, D};
use serde::{Deserialize, Serialize};

use super::heads::{all_heads, gates, greedy_flip_search, Head, HeadGrid};
use crate::data::wordpiece::{EncodedSentence, WordPieces};
use crate::model::aspert::{encoding_contribution, Aspert, Encoding};
use crate::model::batch::{PairBatch, PieceBatch, SpanBatch};
use crate::model::candidates::span_pieces;
use crate::model::contribution::Contribution;

/// Words `[start, end)` of a sentence, from 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Words {
    /// The first word.
    pub start: usize,
    /// One past the last word.
    pub end: usize,
}

impl Words {
    /// Words `[start, end)`.
    pub fn new(start: usize, end: usize) -> Self {
        Self { start, end }
    }

    fn range(&self) -> Range<usize> {
        self.start..self.end
    }
}

/// What is explained.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Target {
    /// A span: the score is the log-probability of its predicted type (`none` included).
    Entity {
        /// The span's words.
        span: Words,
    },
    /// An ordered pair of spans and a relation type: the score is that type's logit.
    /// Without a type, the type the model scores highest for the pair.
    Relation {
        /// The head entity's words.
        head: Words,
        /// The tail entity's words.
        tail: Words,
        /// The relation type whose logit is explained.
        relation: Option<String>,
    },
}

/// Where heads are masked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// ξ_h = 0 in the encoder: the head's output is gone from every later layer.
    Encoder,
    /// Only the head's f_a feature is zeroed (ASpERT's attention path); the encoder and the
    /// hidden states are unchanged. Written `f_a`, as the command line names it.
    #[serde(rename = "f_a")]
    AttentionFeature,
}

impl Mode {
    /// How the tools name the mode.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Encoder => "encoder",
            Mode::AttentionFeature => "f_a",
        }
    }
}

/// What the model says about the target in one pass.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reading {
    /// The explained score: the explained label's log-probability (entity) or logit
    /// (relation), uncalibrated.
    pub score: f32,
    /// The explained label's probability as shown (calibrated): P(type), or the relation's
    /// score.
    pub probability: f32,
    /// What the model predicts in this pass: the most likely entity type (or `none`); for a
    /// relation, its type when the raw sigmoid exceeds α, else `none`.
    pub predicted: String,
    /// Entities: every class with its probability, `none` first. Relations: every relation
    /// type with its score.
    pub probabilities: Vec<(String, f32)>,
}

/// One word's share of the score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WordAttribution {
    /// The word's index in the sentence.
    pub word: usize,
    /// The word as written.
    pub token: String,
    /// Integrated gradient of the score summed over the word's pieces: positive pushed the
    /// score up.
    pub attribution: f32,
}

/// The words' attributions and how well they add up.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WordAttributions {
    /// One per word the encoder sees, in sentence order.
    pub words: Vec<WordAttribution>,
    /// The score with every word embedding at the baseline (0; positions and `[CLS]`,
    /// `[SEP]` kept).
    pub baseline_score: f32,
    /// Integration steps.
    pub steps: usize,
}

impl WordAttributions {
    /// Words by |attribution|, largest first.
    pub fn ranked(&self) -> Vec<&WordAttribution> {
        let mut all: Vec<&WordAttribution> = self.words.iter().collect();
        all.sort_by(|a, b| {
            b.attribution.abs().total_cmp(&a.attribution.abs()).then(a.word.cmp(&b.word))
        });
        all
    }
}

/// A flip set found by [`Explainer::flip_set`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FlipSet {
    /// Where the heads were masked.
    pub mode: Mode,
    /// The heads masked, in the order the search added them.
    pub heads: Vec<Head>,
    /// Whether masking them changes the prediction; false: no flip within `max_heads`.
    pub flipped: bool,
    /// The reading with `heads` masked (`None` when no pass ran).
    pub after: Option<Reading>,
    /// Batched passes the search took.
    pub passes: usize,
    /// The bound on heads.
    pub max_heads: usize,
}

/// Bounds of the flip-set search: candidates are the `candidates` most important heads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlipLimits {
    /// How many of the most important heads the search may pick from.
    pub candidates: usize,
    /// The most heads a flip set may hold.
    pub max_heads: usize,
}

impl Default for FlipLimits {
    fn default() -> Self {
        Self { candidates: 16, max_heads: 8 }
    }
}

/// The target with its word pieces and the label explained.
#[derive(Debug, Clone)]
enum Resolved {
    Entity { pieces: Range<usize>, width: usize, class: usize },
    Relation { head: (Range<usize>, usize), tail: (Range<usize>, usize), relation: usize },
}

/// One prediction of one sentence, ready to explain.
pub struct Explainer<'a> {
    model: &'a Aspert,
    mask_id: Option<u32>,
    tokens: Vec<String>,
    encoded: EncodedSentence,
    ids: Tensor,
    mask: Tensor,
    target: Target,
    resolved: Resolved,
    base: Reading,
}

impl<'a> Explainer<'a> {
    /// Encodes `tokens` and reads the model's prediction for `target` (one pass).
    pub fn new(
        model: &'a Aspert,
        pieces: &WordPieces,
        tokens: &[String],
        target: Target,
    ) -> Result<Self> {
        let cfg = model.config();
        let encoded = pieces.encode(tokens, cfg.max_pieces);
        let span = |w: &Words| -> Result<(Range<usize>, usize)> {
            let width = w.end.saturating_sub(w.start);
            if width == 0 || w.end > tokens.len() {
                candle_core::bail!(
                    "words {}..{} are not a span of the sentence's {} words",
                    w.start + 1,
                    w.end,
                    tokens.len()
                );
            }
            if width > cfg.max_span_width {
                candle_core::bail!(
                    "words {}..{} are {width} words wide; the model classifies spans of at most {}",
                    w.start + 1,
                    w.end,
                    cfg.max_span_width
                );
            }
            let range = span_pieces(&encoded.word_pieces, w.start, w.end);
            if range.is_empty() || w.end > encoded.word_pieces.len() {
                candle_core::bail!(
                    "words {}..{} lie beyond the {} words the encoder sees",
                    w.start + 1,
                    w.end,
                    encoded.word_pieces.len()
                );
            }
            Ok((range, width))
        };
        // The label is fixed after the first reading: a placeholder until then.
        let resolved = match &target {
            Target::Entity { span: w } => {
                let (pieces, width) = span(w)?;
                Resolved::Entity { pieces, width, class: 0 }
            }
            Target::Relation { head, tail, relation } => {
                let relation = match relation {
                    Some(name) => {
                        cfg.relation_types.iter().position(|t| t == name).ok_or_else(|| {
                            candle_core::Error::Msg(format!(
                                "the model has no relation type {name:?} (it has {})",
                                cfg.relation_types.join(", ")
                            ))
                        })?
                    }
                    None => 0,
                };
                if cfg.relation_types.is_empty() {
                    candle_core::bail!("the model has no relation types");
                }
                Resolved::Relation { head: span(head)?, tail: span(tail)?, relation }
            }
        };
        let device = model.encoder().device().clone();
        let ids = Tensor::new(encoded.ids.as_slice(), &device)?.unsqueeze(0)?;
        let mask = Tensor::ones_like(&ids)?;
        let mut explainer = Self {
            model,
            mask_id: pieces.mask_id,
            tokens: tokens.to_vec(),
            encoded,
            ids,
            mask,
            target,
            resolved,
            base: Reading {
                score: 0.0,
                probability: 0.0,
                predicted: String::new(),
                probabilities: Vec::new(),
            },
        };
        let enc = explainer.encode_rows(&[Vec::new()], None)?;
        let logits = explainer.logits(&enc)?;
        let first = logits.get(0)?.to_dtype(DType::F32)?.to_vec1::<f32>()?;
        let pick = |v: &[f32]| {
            (0..v.len()).max_by(|&a, &b| v[a].total_cmp(&v[b]).then(b.cmp(&a))).unwrap_or(0)
        };
        match &mut explainer.resolved {
            Resolved::Entity { class, .. } => *class = pick(&first),
            Resolved::Relation { relation, .. } => {
                if matches!(&explainer.target, Target::Relation { relation: None, .. }) {
                    *relation = pick(&first);
                    let name = cfg.relation_types[*relation].clone();
                    if let Target::Relation { relation, .. } = &mut explainer.target {
                        *relation = Some(name);
                    }
                }
            }
        }
        explainer.base = explainer.readings(&logits)?.remove(0);
        Ok(explainer)
    }

    /// Explains `label` instead of the predicted one: an entity type (or `none`) whose
    /// log-probability becomes the score, e.g. a gold type the model gets wrong. What the
    /// model predicts, and so what counts as a flip, stays as it was. Relations name their
    /// type in the [`Target`].
    pub fn explaining(mut self, label: &str) -> Result<Self> {
        let cfg = self.model.config();
        let Resolved::Entity { class, .. } = &mut self.resolved else {
            candle_core::bail!("a relation's type is chosen in its target, not by explaining");
        };
        *class = if label == "none" {
            0
        } else {
            1 + cfg.entity_types.iter().position(|t| t == label).ok_or_else(|| {
                candle_core::Error::Msg(format!(
                    "the model has no entity type {label:?} (it has {})",
                    cfg.entity_types.join(", ")
                ))
            })?
        };
        let enc = self.encode_rows(&[Vec::new()], None)?;
        self.base = self.readings(&self.logits(&enc)?)?.remove(0);
        Ok(self)
    }

    /// The target, its relation type filled in.
    pub fn target(&self) -> &Target {
        &self.target
    }

    /// The sentence's words.
    pub fn tokens(&self) -> &[String] {
        &self.tokens
    }

    /// The label explained: the entity type predicted (or `none`), or the relation type.
    pub fn label(&self) -> String {
        let cfg = self.model.config();
        match &self.resolved {
            Resolved::Entity { class: 0, .. } => "none".into(),
            Resolved::Entity { class, .. } => cfg.entity_types[class - 1].clone(),
            Resolved::Relation { relation, .. } => cfg.relation_types[*relation].clone(),
        }
    }

    /// The prediction with nothing masked.
    pub fn prediction(&self) -> &Reading {
        &self.base
    }

    /// Whether a reading's prediction differs from the unmasked one.
    pub fn flips(&self, reading: &Reading) -> bool {
        reading.predicted != self.base.predicted
    }

    /// Encoder layers and heads.
    pub fn shape(&self) -> (usize, usize) {
        let cfg = self.model.config();
        (cfg.encoder.num_hidden_layers, cfg.encoder.num_attention_heads)
    }

    fn device(&self) -> &Device {
        self.model.encoder().device()
    }

    fn batch(&self, n: usize, ids: Tensor) -> Result<PieceBatch> {
        let t = self.encoded.ids.len();
        Ok(PieceBatch {
            input_ids: ids,
            attention_mask: self.mask.broadcast_as((n, t))?.contiguous()?,
            word_pieces: vec![self.encoded.word_pieces.clone(); n],
            lengths: vec![t; n],
        })
    }

    /// One gated pass with a row per set of masked heads.
    fn encode_rows(&self, sets: &[Vec<Head>], word_scale: Option<&Tensor>) -> Result<Encoding> {
        let n = sets.len();
        let t = self.encoded.ids.len();
        let batch = self.batch(n, self.ids.broadcast_as((n, t))?.contiguous()?)?;
        let gate = gates(self.model.encoder(), sets)?;
        let encoder = self.model.encoder();
        let out = match word_scale {
            // Rows that differ only in their gates share the layers before their first mask.
            None => encoder.forward_gated_shared(&self.ids, &self.mask, &gate)?,
            Some(scale) => encoder.forward_explained(
                &batch.input_ids,
                &batch.attention_mask,
                &gate,
                Some(scale),
            )?,
        };
        self.model.encoding_of(out, &batch)
    }

    /// Raw logits `[n, K]` of the target for every row of `enc`: span classes (`none`
    /// first) or relation types.
    fn logits(&self, enc: &Encoding) -> Result<Tensor> {
        let n = enc.hidden.dim(0)?;
        match &self.resolved {
            Resolved::Entity { pieces, width, .. } => {
                let spans = SpanBatch {
                    pieces: vec![vec![pieces.clone()]; n],
                    widths: vec![vec![*width]; n],
                };
                let repr = self.model.span_representations(enc, &spans)?;
                self.model.span_logits(enc, &repr, false)?.squeeze(1)
            }
            Resolved::Relation { head, tail, .. } => {
                let spans = SpanBatch {
                    pieces: vec![vec![head.0.clone(), tail.0.clone()]; n],
                    widths: vec![vec![head.1, tail.1]; n],
                };
                let pairs = PairBatch { pairs: vec![vec![(0, 1)]; n] };
                let repr = self.model.span_representations(enc, &spans)?;
                self.model.relation_logits(enc, &repr, &spans, &pairs, false)?.squeeze(1)
            }
        }
    }

    /// The explained score of every row, `[n]`, from the logits.
    fn scores(&self, logits: &Tensor) -> Result<Tensor> {
        let logits = logits.to_dtype(DType::F32)?;
        match &self.resolved {
            Resolved::Entity { class, .. } => {
                candle_nn::ops::log_softmax(&logits, D::Minus1)?.narrow(1, *class, 1)?.squeeze(1)
            }
            Resolved::Relation { relation, .. } => logits.narrow(1, *relation, 1)?.squeeze(1),
        }
    }

    fn readings(&self, logits: &Tensor) -> Result<Vec<Reading>> {
        let cfg = self.model.config();
        let scores = self.scores(logits)?.to_vec1::<f32>()?;
        let rows = logits.to_dtype(DType::F32)?.to_vec2::<f32>()?;
        let calibration = cfg.calibration;
        Ok(rows
            .into_iter()
            .zip(scores)
            .map(|(row, score)| match &self.resolved {
                Resolved::Entity { class, .. } => {
                    let top = row.iter().copied().fold(f32::MIN, f32::max);
                    let exp: Vec<f32> = row.iter().map(|l| (l - top).exp()).collect();
                    let sum: f32 = exp.iter().sum();
                    let raw: Vec<f32> = exp.iter().map(|e| e / sum).collect();
                    let shown = calibration.entity_probabilities(&raw);
                    let best = (0..raw.len())
                        .max_by(|&a, &b| raw[a].total_cmp(&raw[b]).then(b.cmp(&a)))
                        .unwrap_or(0);
                    let name = |i: usize| {
                        if i == 0 {
                            "none".to_string()
                        } else {
                            cfg.entity_types[i - 1].clone()
                        }
                    };
                    Reading {
                        score,
                        probability: shown[*class],
                        predicted: name(best),
                        probabilities: shown
                            .iter()
                            .enumerate()
                            .map(|(i, p)| (name(i), *p))
                            .collect(),
                    }
                }
                Resolved::Relation { relation, .. } => {
                    let sigmoid = |l: f32| 1.0 / (1.0 + (-l).exp());
                    let fires = sigmoid(row[*relation]) > cfg.relation_threshold;
                    Reading {
                        score,
                        probability: calibration.relation_score(sigmoid(row[*relation])),
                        predicted: if fires {
                            cfg.relation_types[*relation].clone()
                        } else {
                            "none".into()
                        },
                        probabilities: row
                            .iter()
                            .enumerate()
                            .map(|(i, l)| {
                                (
                                    cfg.relation_types[i].clone(),
                                    calibration.relation_score(sigmoid(*l)),
                                )
                            })
                            .collect(),
                    }
                }
            })
            .collect())
    }

    /// Head importance |∂score/∂ξ_h| at ξ = 1: one forward and one backward pass.
    pub fn importance(&self) -> Result<HeadGrid> {
        let (layers, heads) = self.shape();
        let gate = Var::ones((1, layers, heads), DType::F32, self.device())?;
        let batch = self.batch(1, self.ids.clone())?;
        let out = self.model.encoder().forward_gated(
            &batch.input_ids,
            &batch.attention_mask,
            gate.as_tensor(),
        )?;
        let enc = self.model.encoding_of(out, &batch)?;
        let score = self.scores(&self.logits(&enc)?)?.sum_all()?;
        let grads = score.backward()?;
        let values = match grads.get(gate.as_tensor()) {
            Some(g) => g.abs()?.flatten_all()?.to_vec1::<f32>()?,
            None => vec![0.0; layers * heads],
        };
        Ok(HeadGrid { layers, heads, values })
    }

    /// The explained score with any gate values `[n, layers, heads]` (for checks such as
    /// finite differences of ξ), one per row.
    pub fn scores_with_gate(&self, gate: &Tensor) -> Result<Vec<f32>> {
        let n = gate.dim(0)?;
        let t = self.encoded.ids.len();
        let batch = self.batch(n, self.ids.broadcast_as((n, t))?.contiguous()?)?;
        let out =
            self.model.encoder().forward_gated(&batch.input_ids, &batch.attention_mask, gate)?;
        let enc = self.model.encoding_of(out, &batch)?;
        self.scores(&self.logits(&enc)?)?.to_vec1::<f32>()
    }

    /// The reading with each set of heads masked, every set a row of one batched pass.
    pub fn ablate(&self, sets: &[Vec<Head>], mode: Mode) -> Result<Vec<Reading>> {
        if sets.is_empty() {
            return Ok(Vec::new());
        }
        let enc = match mode {
            Mode::Encoder => self.encode_rows(sets, None)?,
            Mode::AttentionFeature => {
                let one = self.encode_rows(&[Vec::new()], None)?;
                if !one.has_attention_contribution() {
                    candle_core::bail!(
                        "the model ({}) has no f_a features to ablate",
                        self.model.config().variant()
                    );
                }
                // The gate rows are the keep mask of f_a's features, head by head.
                let (layers, heads) = self.shape();
                let keep =
                    gates(self.model.encoder(), sets)?.reshape((sets.len(), layers * heads))?;
                one.repeat_first(sets.len(), Some(&keep))?
            }
        };
        self.readings(&self.logits(&enc)?)
    }

    /// Every single-head ablation in one batched pass, in [`all_heads`] order.
    pub fn sweep(&self, mode: Mode) -> Result<Vec<(Head, Reading)>> {
        let heads = all_heads(self.model.encoder());
        let sets: Vec<Vec<Head>> = heads.iter().map(|h| vec![*h]).collect();
        Ok(heads.into_iter().zip(self.ablate(&sets, mode)?).collect())
    }

    /// Greedy smallest flip set among the most important heads (`importance` from
    /// [`Explainer::importance`]), within `limits`.
    pub fn flip_set(
        &self,
        importance: &HeadGrid,
        mode: Mode,
        limits: FlipLimits,
    ) -> Result<FlipSet> {
        let candidates: Vec<Head> =
            importance.ranked().into_iter().take(limits.candidates).map(|(h, _)| h).collect();
        let (search, after) = greedy_flip_search(
            &candidates,
            (limits.max_heads, limits.max_heads),
            |sets| self.ablate(sets, mode),
            |r: &Reading| r.score,
            |r| self.flips(r),
        )?;
        Ok(FlipSet {
            mode,
            heads: search.heads,
            flipped: search.flipped,
            after,
            passes: search.passes,
            max_heads: limits.max_heads,
        })
    }

    /// Integrated gradients of the score on the word embeddings, baseline 0, `steps`
    /// midpoints in one batched pass and one backward pass, summed per word. The
    /// attributions add up to about `score - baseline_score` (completeness).
    pub fn words(&self, steps: usize) -> Result<WordAttributions> {
        let steps = steps.max(1);
        let t = self.encoded.ids.len();
        let words = &self.encoded.word_pieces;
        // [CLS] and [SEP] keep their embeddings: only words are attributed.
        let mut scale = vec![1f32; steps * t];
        for (k, row) in scale.chunks_mut(t).enumerate() {
            let alpha = (k as f32 + 0.5) / steps as f32;
            for r in words {
                row[r.clone()].iter_mut().for_each(|v| *v = alpha);
            }
        }
        let scale = Var::from_tensor(&Tensor::from_vec(scale, (steps, t), self.device())?)?;
        let sets = vec![Vec::new(); steps];
        let enc = self.encode_rows(&sets, Some(scale.as_tensor()))?;
        let score = self.scores(&self.logits(&enc)?)?.sum_all()?;
        let grads = score.backward()?;
        let per_piece = match grads.get(scale.as_tensor()) {
            Some(g) => (g.sum(0)? / steps as f64)?.to_vec1::<f32>()?,
            None => vec![0.0; t],
        };
        let attributions = words
            .iter()
            .enumerate()
            .map(|(w, r)| WordAttribution {
                word: w,
                token: self.tokens[w].clone(),
                attribution: per_piece[r.clone()].iter().sum(),
            })
            .collect();
        let mut zero = vec![1f32; t];
        for r in words {
            zero[r.clone()].iter_mut().for_each(|v| *v = 0.0);
        }
        let zero = Tensor::from_vec(zero, (1, t), self.device())?;
        let enc = self.encode_rows(&[Vec::new()], Some(&zero))?;
        let baseline_score = self.scores(&self.logits(&enc)?)?.to_vec1::<f32>()?[0];
        Ok(WordAttributions { words: attributions, baseline_score, steps })
    }

    /// The reading with each set of words replaced by `[MASK]` (every piece of each word, so
    /// the spans keep their pieces), every set a row of one batched pass.
    pub fn mask_words(&self, sets: &[Vec<usize>]) -> Result<Vec<Reading>> {
        let Some(mask_id) = self.mask_id else {
            candle_core::bail!("the tokenizer has no [MASK] token to mask words with");
        };
        if sets.is_empty() {
            return Ok(Vec::new());
        }
        let t = self.encoded.ids.len();
        let seen = self.encoded.word_pieces.len();
        let mut ids = Vec::with_capacity(sets.len() * t);
        for set in sets {
            let mut row = self.encoded.ids.clone();
            for &w in set {
                let Some(r) = self.encoded.word_pieces.get(w) else {
                    candle_core::bail!(
                        "word {} is beyond the {seen} words the encoder sees",
                        w + 1
                    );
                };
                row[r.clone()].iter_mut().for_each(|id| *id = mask_id);
            }
            ids.extend(row);
        }
        let n = sets.len();
        let batch = self.batch(n, Tensor::from_vec(ids, (n, t), self.device())?)?;
        let gate = gates(self.model.encoder(), &vec![Vec::new(); n])?;
        let out =
            self.model.encoder().forward_gated(&batch.input_ids, &batch.attention_mask, &gate)?;
        let enc = self.model.encoding_of(out, &batch)?;
        self.readings(&self.logits(&enc)?)
    }

    /// f_a of the target's span (a relation: of its head and of its tail), as the model
    /// computes it.
    pub fn contribution(&self) -> Result<Vec<Contribution>> {
        let cfg = self.model.config();
        let enc = self.encode_rows(&[Vec::new()], None)?;
        let of =
            |r: &Range<usize>| encoding_contribution(&enc, 0, r.clone(), cfg.theta, cfg.fusion);
        match &self.resolved {
            Resolved::Entity { pieces, .. } => Ok(vec![of(pieces)?]),
            Resolved::Relation { head, tail, .. } => Ok(vec![of(&head.0)?, of(&tail.0)?]),
        }
    }

    /// The words of the target: the span, or the head and tail spans.
    pub fn spans(&self) -> Vec<Range<usize>> {
        match &self.target {
            Target::Entity { span } => vec![span.range()],
            Target::Relation { head, tail, .. } => vec![head.range(), tail.range()],
        }
    }
}
