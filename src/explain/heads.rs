//! Head importance and exact head ablation through a gate ξ on every head's output
//! (Michel et al. 2019, "Are Sixteen Heads Really Better than One?").
//!
//! The encoder runs its explanation path ([`BertEncoder::forward_gated`]); a score is any
//! function of that pass (an entity's log-probability, a relation's logit, one per batch row).
//! Importance is |∂score/∂ξ_h| at ξ = 1 from one forward and one backward pass; ablation sets
//! ξ_h = 0 exactly, every variant of one prediction a row of one batched pass.

use candle_core::{DType, Result, Tensor, Var};
use serde::{Deserialize, Serialize};

use crate::model::encoder::{BertEncoder, EncoderOutput};

/// One head: layer and head index, both from 0 (shown as `L.H` from 1 by the tools).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Head {
    /// The layer, from 0.
    pub layer: usize,
    /// The head within its layer, from 0.
    pub head: usize,
}

/// A value per head, row-major `layers x heads`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HeadGrid {
    /// Rows: the encoder's layers.
    pub layers: usize,
    /// Columns: heads per layer.
    pub heads: usize,
    /// `layers * heads` values, layer by layer.
    pub values: Vec<f32>,
}

impl HeadGrid {
    /// The value of one head.
    pub fn get(&self, head: Head) -> f32 {
        self.values[head.layer * self.heads + head.head]
    }

    /// Every head, largest value first (ties in layer, head order).
    pub fn ranked(&self) -> Vec<(Head, f32)> {
        let mut all: Vec<(Head, f32)> = (0..self.values.len())
            .map(|i| (Head { layer: i / self.heads, head: i % self.heads }, self.values[i]))
            .collect();
        all.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        all
    }
}

/// What head importance gives for one prediction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Importance {
    /// The score at ξ = 1 (nothing masked).
    pub score: f32,
    /// |∂score/∂ξ_h| at ξ = 1.
    pub grid: HeadGrid,
}

/// Checks one sentence's inputs: `input_ids` and `attention_mask` `[1, T]`.
fn one_sentence(input_ids: &Tensor, attention_mask: &Tensor) -> Result<usize> {
    let (b, t) = input_ids.dims2()?;
    if b != 1 || attention_mask.dims() != [1, t] {
        candle_core::bail!(
            "explanations take one sentence: input ids {:?}, attention mask {:?}",
            input_ids.dims(),
            attention_mask.dims()
        );
    }
    Ok(t)
}

/// Head importance of one sentence's prediction: `score` maps the gated pass to a scalar (or
/// a one-element tensor). One forward and one backward pass.
pub fn head_importance(
    encoder: &BertEncoder,
    input_ids: &Tensor,
    attention_mask: &Tensor,
    score: impl Fn(&EncoderOutput) -> Result<Tensor>,
) -> Result<Importance> {
    one_sentence(input_ids, attention_mask)?;
    let cfg = encoder.config();
    let (layers, heads) = (cfg.num_hidden_layers, cfg.num_attention_heads);
    let gate = Var::ones((1, layers, heads), DType::F32, encoder.device())?;
    let out = encoder.forward_gated(input_ids, attention_mask, gate.as_tensor())?;
    let s = score(&out)?.to_dtype(DType::F32)?.flatten_all()?;
    if s.elem_count() != 1 {
        candle_core::bail!("an importance score must be one number, got shape {:?}", s.dims());
    }
    let s = s.sum_all()?;
    let grads = s.backward()?;
    let grad = grads
        .get(gate.as_tensor())
        .ok_or_else(|| candle_core::Error::Msg("the score does not depend on any head".into()))?;
    let values = grad.abs()?.flatten_all()?.to_vec1::<f32>()?;
    Ok(Importance { score: s.to_scalar::<f32>()?, grid: HeadGrid { layers, heads, values } })
}

/// The gate rows `[sets, layers, heads]` that mask each set of heads (an empty set keeps all).
pub fn gates(encoder: &BertEncoder, sets: &[Vec<Head>]) -> Result<Tensor> {
    let cfg = encoder.config();
    let (layers, heads) = (cfg.num_hidden_layers, cfg.num_attention_heads);
    let mut values = vec![1f32; sets.len() * layers * heads];
    for (row, set) in sets.iter().enumerate() {
        for h in set {
            if h.layer >= layers || h.head >= heads {
                candle_core::bail!(
                    "head {}.{} is outside the encoder's {layers} layers x {heads} heads",
                    h.layer + 1,
                    h.head + 1
                );
            }
            values[(row * layers + h.layer) * heads + h.head] = 0.0;
        }
    }
    Tensor::from_vec(values, (sets.len(), layers, heads), encoder.device())
}

/// Scores of one sentence with each set of heads masked (ξ_h = 0), all sets one batched
/// pass. `score` maps the pass to one score per batch row, `[sets]`.
pub fn ablate(
    encoder: &BertEncoder,
    input_ids: &Tensor,
    attention_mask: &Tensor,
    sets: &[Vec<Head>],
    score: impl Fn(&EncoderOutput) -> Result<Tensor>,
) -> Result<Vec<f32>> {
    ablate_with(encoder, input_ids, attention_mask, sets, |out| {
        score(out)?.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()
    })
}

/// [`ablate`] with any reading of each row: `rows` maps the batched pass to one `T` per set.
pub fn ablate_with<T>(
    encoder: &BertEncoder,
    input_ids: &Tensor,
    attention_mask: &Tensor,
    sets: &[Vec<Head>],
    rows: impl Fn(&EncoderOutput) -> Result<Vec<T>>,
) -> Result<Vec<T>> {
    let t = one_sentence(input_ids, attention_mask)?;
    if sets.is_empty() {
        return Ok(Vec::new());
    }
    let gate = gates(encoder, sets)?;
    let n = sets.len();
    let ids = input_ids.broadcast_as((n, t))?.contiguous()?;
    let mask = attention_mask.broadcast_as((n, t))?.contiguous()?;
    let out = encoder.forward_gated(&ids, &mask, &gate)?;
    let read = rows(&out)?;
    if read.len() != n {
        candle_core::bail!("{} scores for {n} ablations", read.len());
    }
    Ok(read)
}

/// Every head of the encoder, layer by layer.
pub fn all_heads(encoder: &BertEncoder) -> Vec<Head> {
    let cfg = encoder.config();
    (0..cfg.num_hidden_layers)
        .flat_map(|layer| (0..cfg.num_attention_heads).map(move |head| Head { layer, head }))
        .collect()
}

/// Every single-head ablation as one batched pass: row 0 masks nothing, row 1 + i masks the
/// i-th head of [`all_heads`]. Returns the unmasked score and a grid of masked scores.
pub fn single_head_sweep(
    encoder: &BertEncoder,
    input_ids: &Tensor,
    attention_mask: &Tensor,
    score: impl Fn(&EncoderOutput) -> Result<Tensor>,
) -> Result<(f32, HeadGrid)> {
    let heads = all_heads(encoder);
    let sets: Vec<Vec<Head>> =
        std::iter::once(Vec::new()).chain(heads.iter().map(|h| vec![*h])).collect();
    let scores = ablate(encoder, input_ids, attention_mask, &sets, score)?;
    let cfg = encoder.config();
    let grid = HeadGrid {
        layers: cfg.num_hidden_layers,
        heads: cfg.num_attention_heads,
        values: scores[1..].to_vec(),
    };
    Ok((scores[0], grid))
}

/// The result of a greedy search for the fewest heads whose masking flips a prediction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FlipSearch {
    /// The heads masked, in the order they were added.
    pub heads: Vec<Head>,
    /// Whether masking `heads` flips the prediction (false: "no flip within" the bound).
    pub flipped: bool,
    /// The batched passes it took.
    pub passes: usize,
}

/// Greedy smallest flip set: each round masks, on top of the heads chosen so far, every
/// remaining head of `candidates` in one batched pass, keeps the one that lowers the score
/// most, and stops when `flips` says the prediction changed, after `max_heads` heads or
/// `max_passes` passes. `score` gives one number per row; `flips` reads one row's score.
pub fn greedy_flip_set(
    encoder: &BertEncoder,
    input_ids: &Tensor,
    attention_mask: &Tensor,
    candidates: &[Head],
    limits: (usize, usize),
    score: impl Fn(&EncoderOutput) -> Result<Tensor>,
    flips: impl Fn(f32) -> bool,
) -> Result<FlipSearch> {
    let run = |sets: &[Vec<Head>]| ablate(encoder, input_ids, attention_mask, sets, &score);
    let (search, _) = greedy_flip_search(candidates, limits, run, |s: &f32| *s, |s| flips(*s))?;
    Ok(search)
}

/// The greedy search of [`greedy_flip_set`] over any way of running sets of masked heads:
/// `run` gives one reading per set (one batched pass), `score` the number to lower and
/// `flips` whether a reading is a changed prediction. Returns the search and the reading of
/// the last set tried (`None` when no pass ran).
pub fn greedy_flip_search<T>(
    candidates: &[Head],
    limits: (usize, usize),
    mut run: impl FnMut(&[Vec<Head>]) -> Result<Vec<T>>,
    score: impl Fn(&T) -> f32,
    flips: impl Fn(&T) -> bool,
) -> Result<(FlipSearch, Option<T>)> {
    let (max_heads, max_passes) = limits;
    let mut chosen: Vec<Head> = Vec::new();
    let mut passes = 0;
    let mut last = None;
    while chosen.len() < max_heads && passes < max_passes {
        let rest: Vec<Head> = candidates.iter().copied().filter(|h| !chosen.contains(h)).collect();
        if rest.is_empty() {
            break;
        }
        let sets: Vec<Vec<Head>> = rest
            .iter()
            .map(|h| chosen.iter().copied().chain(std::iter::once(*h)).collect())
            .collect();
        let readings = run(&sets)?;
        passes += 1;
        // A set that flips wins outright; else the one that lowers the score most.
        let pick = readings
            .iter()
            .position(&flips)
            .or_else(|| {
                (0..readings.len())
                    .min_by(|&a, &b| score(&readings[a]).total_cmp(&score(&readings[b])))
            })
            .ok_or_else(|| candle_core::Error::Msg("no reading for the candidates".into()))?;
        chosen.push(rest[pick]);
        let reading = readings.into_iter().nth(pick).expect("picked among the readings");
        let flipped = flips(&reading);
        last = Some(reading);
        if flipped {
            return Ok((FlipSearch { heads: chosen, flipped: true, passes }, last));
        }
    }
    Ok((FlipSearch { heads: chosen, flipped: false, passes }, last))
}
