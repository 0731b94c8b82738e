//! The attention contribution degree f_a of a span (docs/MODEL.md: the paper's section 4.2,
//! Algorithms 1 and 2).
//!
//! For every layer `l` and head `h`, take the attention probabilities `A[l, h]` with queries
//! restricted to the pieces of the span and keys over the real (non-padding) pieces of the
//! sentence, `[CLS]` and `[SEP]` included (Algorithm 1's mask); zero every value `<= θ`
//! (Algorithm 2, lines 4-11); fuse what remains over both token dimensions (line 12) with mean
//! pooling, or max or sum. The result is one number per head, index `l * heads + h`.
//!
//! Two implementations that must agree: [`query_statistics`] + [`pool_spans`], batched and
//! differentiable, used inside the model (eq. 6); and [`span_contribution`], one span of one
//! sentence, used to explain a prediction.

use std::fmt;
use std::ops::Range;
use std::str::FromStr;

use candle_core::{DType, Result, Tensor};
use serde::{Deserialize, Serialize};

use crate::model::pooling::{range_sum, RangeMax};

/// How f_a fuses the thresholded attention over the span's queries and the sentence's keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Fusion {
    /// Mean over the `|s| x n_keys` entries (the paper's choice).
    #[default]
    Mean,
    /// Maximum entry.
    Max,
    /// Sum of the entries.
    Sum,
}

/// The text is not a fusion name.
#[derive(Debug, Clone, thiserror::Error)]
#[error("unknown fusion `{0}`: expected mean, max or sum")]
pub struct BadFusion(String);

impl FromStr for Fusion {
    type Err = BadFusion;

    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "mean" => Ok(Self::Mean),
            "max" => Ok(Self::Max),
            "sum" => Ok(Self::Sum),
            _ => Err(BadFusion(s.to_string())),
        }
    }
}

impl fmt::Display for Fusion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Mean => "mean",
            Self::Max => "max",
            Self::Sum => "sum",
        })
    }
}

/// f_a of one span: one value per attention head, row-major `layers x heads`.
///
/// Serialises as `{"layers": L, "heads": H, "contribution": [[..H..] x L]}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "ContributionJson", into = "ContributionJson")]
pub struct Contribution {
    /// Number of encoder layers.
    pub layers: usize,
    /// Attention heads per layer.
    pub heads: usize,
    /// `values[l * heads + h]` is head `h` of layer `l`.
    pub values: Vec<f32>,
}

#[derive(Serialize, Deserialize)]
struct ContributionJson {
    layers: usize,
    heads: usize,
    contribution: Vec<Vec<f32>>,
}

impl From<Contribution> for ContributionJson {
    fn from(c: Contribution) -> Self {
        let contribution = c.values.chunks(c.heads.max(1)).map(<[f32]>::to_vec).collect();
        Self { layers: c.layers, heads: c.heads, contribution }
    }
}

impl TryFrom<ContributionJson> for Contribution {
    type Error = String;

    fn try_from(j: ContributionJson) -> std::result::Result<Self, Self::Error> {
        if j.contribution.len() != j.layers || j.contribution.iter().any(|r| r.len() != j.heads) {
            return Err(format!(
                "contribution must be {} rows of {} values, one row per layer",
                j.layers, j.heads
            ));
        }
        Ok(Self { layers: j.layers, heads: j.heads, values: j.contribution.concat() })
    }
}

impl Contribution {
    /// The value of head `head` of layer `layer`, if both exist.
    pub fn get(&self, layer: usize, head: usize) -> Option<f32> {
        (layer < self.layers && head < self.heads).then(|| self.values[layer * self.heads + head])
    }

    /// The `k` heads with the largest values, largest first, as `(layer, head, value)`; ties
    /// keep the lower layer and head first.
    pub fn top_heads(&self, k: usize) -> Vec<(usize, usize, f32)> {
        let mut order: Vec<usize> = (0..self.values.len()).collect();
        order.sort_by(|&a, &b| self.values[b].total_cmp(&self.values[a]).then(a.cmp(&b)));
        let heads = self.heads.max(1);
        order.into_iter().take(k).map(|i| (i / heads, i % heads, self.values[i])).collect()
    }
}

/// Per-query statistics of the thresholded attention over the real keys, computed once per
/// batch: `[B, T, L * heads]` where entry `[b, t, l * heads + h]` is the sum (for mean and
/// sum fusion) or the maximum (for max fusion) over real keys `k` of `A[b,l,h,t,k] · 1[A > θ]`
/// (Algorithm 2, lines 4-11; Algorithm 1's keys restricted to the sentence's real pieces).
/// One graph node in f32 with its own backward pass ([`crate::model::fused::query_stats`]);
/// the threshold and the mask carry no gradient.
///
/// `attentions` is `[B, L, heads, T, T]` (softmax probabilities), `key_mask` `[B, T]` with 1 on
/// real pieces.
pub fn query_statistics(
    attentions: &Tensor,
    key_mask: &Tensor,
    theta: f32,
    fusion: Fusion,
) -> Result<Tensor> {
    let attentions = attentions.to_dtype(DType::F32)?;
    crate::model::fused::query_stats(&attentions, key_mask, theta, fusion == Fusion::Max)
}

/// f_a for spans of query pieces, `[B, S, L * heads]` (eq. 6): pools [`query_statistics`] over
/// each span's query range. `real_keys[b]` is the number of real pieces of item `b` (the mean's
/// key count). Padding spans (shorter lists) give zeros.
pub fn pool_spans(
    stats: &Tensor,
    query_ranges: &[Vec<Range<usize>>],
    real_keys: &[usize],
    fusion: Fusion,
) -> Result<Tensor> {
    match fusion {
        Fusion::Sum => range_sum(stats, query_ranges),
        Fusion::Max => RangeMax::new(stats)?.query(query_ranges),
        Fusion::Mean => {
            let sums = range_sum(stats, query_ranges)?;
            let (batch, spans, _) = sums.dims3()?;
            let mut scale = Vec::with_capacity(batch * spans);
            for (b, list) in query_ranges.iter().enumerate() {
                let keys = real_keys.get(b).copied().unwrap_or(1).max(1);
                for i in 0..spans {
                    let queries = list.get(i).map_or(1, |r| r.len().max(1));
                    scale.push(1.0 / (queries * keys) as f32);
                }
            }
            let scale = Tensor::from_vec(scale, (batch, spans, 1), stats.device())?;
            sums.broadcast_mul(&scale.to_dtype(stats.dtype())?)
        }
    }
}

/// f_a of one span of one sentence, for explanations.
///
/// `attentions` is `[L, heads, T, T]` for one sentence; `query_pieces` the span's pieces;
/// `real_keys` the number of real pieces (`[CLS]` ... `[SEP]`) at the start of the sequence.
pub fn span_contribution(
    attentions: &Tensor,
    query_pieces: Range<usize>,
    real_keys: usize,
    theta: f32,
    fusion: Fusion,
) -> Result<Contribution> {
    let (layers, heads, len, keys) = attentions.dims4()?;
    if query_pieces.is_empty() || query_pieces.end > len || real_keys == 0 || real_keys > keys {
        candle_core::bail!(
            "span pieces {query_pieces:?} and {real_keys} real keys do not fit attentions of \
             {len} queries x {keys} keys"
        );
    }
    let block = attentions
        .narrow(2, query_pieces.start, query_pieces.len())?
        .narrow(3, 0, real_keys)?
        .to_dtype(DType::F32)?
        .flatten_all()?
        .to_vec1::<f32>()?;
    let per_head = query_pieces.len() * real_keys;
    let values = block
        .chunks(per_head)
        .map(|entries| {
            let kept = entries.iter().map(|&a| if a > theta { a } else { 0.0 });
            match fusion {
                Fusion::Sum => kept.sum(),
                Fusion::Mean => kept.sum::<f32>() / per_head as f32,
                Fusion::Max => kept.fold(0.0, f32::max),
            }
        })
        .collect();
    Ok(Contribution { layers, heads, values })
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    fn assert_close(got: &[f32], want: &[f32]) {
        assert_eq!(got.len(), want.len());
        for (g, w) in got.iter().zip(want) {
            assert!((g - w).abs() < 1e-6, "got {got:?}, want {want:?}");
        }
    }

    /// One layer, two heads, four pieces; row t of head h is the attention of query t.
    fn tiny() -> Tensor {
        #[rustfmt::skip]
        let a: Vec<f32> = vec![
            // head 0
            0.1, 0.2, 0.3, 0.4,
            0.5, 0.25, 0.25, 0.0,
            0.7, 0.1, 0.1, 0.1,
            0.25, 0.25, 0.25, 0.25,
            // head 1
            0.0, 0.0, 0.0, 1.0,
            0.6, 0.4, 0.0, 0.0,
            0.2, 0.2, 0.6, 0.0,
            0.3, 0.3, 0.3, 0.1,
        ];
        Tensor::from_vec(a, (1, 2, 4, 4), &Device::Cpu).unwrap()
    }

    #[test]
    fn mean_max_and_sum_by_hand() -> Result<()> {
        let a = tiny();
        // Span = queries 1..3, all four keys real, θ = 0.3 (values <= 0.3 vanish).
        // head 0 keeps 0.5 and 0.7; head 1 keeps 0.6, 0.4 and 0.6.
        let sum = span_contribution(&a, 1..3, 4, 0.3, Fusion::Sum)?;
        assert_close(&sum.values, &[1.2, 1.6]);
        let mean = span_contribution(&a, 1..3, 4, 0.3, Fusion::Mean)?;
        assert_close(&mean.values, &[1.2 / 8.0, 1.6 / 8.0]);
        let max = span_contribution(&a, 1..3, 4, 0.3, Fusion::Max)?;
        assert_close(&max.values, &[0.7, 0.6]);
        Ok(())
    }

    #[test]
    fn values_equal_to_theta_are_zeroed() -> Result<()> {
        // θ = 0.25: the whole of query 3 of head 0 is exactly θ and vanishes.
        let c = span_contribution(&tiny(), 3..4, 4, 0.25, Fusion::Sum)?;
        assert_eq!(c.values[0], 0.0);
        assert!((c.values[1] - 0.9).abs() < 1e-6);
        // θ = 0 keeps everything but zeros.
        let c = span_contribution(&tiny(), 0..4, 4, 0.0, Fusion::Sum)?;
        assert_close(&c.values, &[4.0, 4.0]);
        Ok(())
    }

    #[test]
    fn padding_keys_are_ignored() -> Result<()> {
        // Only keys 0..3 are real, θ = 0.25: head 0 query 0 keeps 0.3 (0.4 is padding).
        let c = span_contribution(&tiny(), 0..1, 3, 0.25, Fusion::Sum)?;
        assert!((c.values[0] - 0.3).abs() < 1e-6);
        assert_eq!(c.values[1], 0.0);
        let mean = span_contribution(&tiny(), 0..1, 3, 0.25, Fusion::Mean)?;
        assert!((mean.values[0] - 0.1).abs() < 1e-6);
        Ok(())
    }

    #[test]
    fn batched_statistics_agree_with_the_single_span_api() -> Result<()> {
        let a = tiny();
        let batched = a.unsqueeze(0)?;
        let mask = Tensor::from_vec(vec![1u32, 1, 1, 0], (1, 4), &Device::Cpu)?;
        let spans = vec![vec![0..1, 1..3, 0..3, 2..3]];
        for fusion in [Fusion::Mean, Fusion::Max, Fusion::Sum] {
            for theta in [0.0, 0.25, 0.5] {
                let stats = query_statistics(&batched, &mask, theta, fusion)?;
                let pooled = pool_spans(&stats, &spans, &[3], fusion)?.to_vec3::<f32>()?;
                for (i, r) in spans[0].iter().enumerate() {
                    let single = span_contribution(&a, r.clone(), 3, theta, fusion)?;
                    for (x, y) in pooled[0][i].iter().zip(&single.values) {
                        assert!((x - y).abs() < 1e-6, "{fusion} θ={theta} {r:?}: {x} vs {y}");
                    }
                }
            }
        }
        Ok(())
    }

    #[test]
    fn top_heads_and_json_shape() {
        let c = Contribution { layers: 2, heads: 2, values: vec![0.1, 0.9, 0.5, 0.9] };
        assert_eq!(c.top_heads(3), vec![(0, 1, 0.9), (1, 1, 0.9), (1, 0, 0.5)]);
        assert_eq!(c.get(1, 0), Some(0.5));
        assert_eq!(c.get(2, 0), None);
        let json = serde_json::to_string(&c).unwrap();
        assert_eq!(json, r#"{"layers":2,"heads":2,"contribution":[[0.1,0.9],[0.5,0.9]]}"#);
        let back: Contribution = serde_json::from_str(&json).unwrap();
        assert_eq!(back, c);
        assert!(serde_json::from_str::<Contribution>(
            r#"{"layers":2,"heads":2,"contribution":[[1]]}"#
        )
        .is_err());
    }

    #[test]
    fn fusion_names() {
        for f in [Fusion::Mean, Fusion::Max, Fusion::Sum] {
            assert_eq!(f.to_string().parse::<Fusion>().unwrap(), f);
            assert_eq!(serde_json::to_string(&f).unwrap(), format!("\"{f}\""));
        }
        assert!("median".parse::<Fusion>().is_err());
    }
}
