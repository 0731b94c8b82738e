//! The joint loss (eq. 10): `L = λ · CE(spans) + BCE(relations)`, as SpERT's `SpERTLoss`:
//! cross-entropy averaged over the sampled spans of the batch, binary cross-entropy averaged
//! over relation types and then over the sampled pairs; 0 when a batch has no pair. Padding
//! rows of `[B, S, ..]` and `[B, P, ..]` logits are left out by selecting the real rows.

use candle_core::{DType, Device, Result, Tensor, D};

use super::sampling::TrainSample;

/// Targets of one batch, built on the host once and moved to the device in a few copies.
#[derive(Debug, Clone)]
pub struct LossTargets {
    /// Rows `b · S + i` of the real spans in the flattened `[B · S, C]` span logits.
    span_rows: Option<Tensor>,
    /// Class of each real span, u32.
    span_labels: Option<Tensor>,
    /// Rows `b · P + j` of the real pairs in the flattened `[B · P, R]` relation logits.
    pair_rows: Option<Tensor>,
    /// Multi-hot relation targets `[real pairs, R]`, f32.
    pair_targets: Option<Tensor>,
    /// `S` and `P` the rows were computed for.
    max_spans: usize,
    max_pairs: usize,
}

impl LossTargets {
    /// Targets for `samples` (one per sentence of the batch) against `relation_types` outputs.
    pub fn new(samples: &[TrainSample], relation_types: usize, device: &Device) -> Result<Self> {
        let max_spans = samples.iter().map(|s| s.spans.len()).max().unwrap_or(0);
        let max_pairs = samples.iter().map(|s| s.pairs.len()).max().unwrap_or(0);
        let (mut span_rows, mut span_labels) = (Vec::new(), Vec::new());
        let (mut pair_rows, mut pair_targets) = (Vec::new(), Vec::new());
        for (b, sample) in samples.iter().enumerate() {
            for (i, span) in sample.spans.iter().enumerate() {
                span_rows.push((b * max_spans + i) as u32);
                span_labels.push(span.label);
            }
            for (j, pair) in sample.pairs.iter().enumerate() {
                pair_rows.push((b * max_pairs + j) as u32);
                let mut target = vec![0f32; relation_types];
                for &r in &pair.relation_types {
                    if let Some(t) = target.get_mut(r) {
                        *t = 1.0;
                    }
                }
                pair_targets.extend(target);
            }
        }
        let rows = |v: Vec<u32>| -> Result<Option<Tensor>> {
            if v.is_empty() {
                return Ok(None);
            }
            let n = v.len();
            Tensor::from_vec(v, n, device).map(Some)
        };
        let pairs = pair_rows.len();
        let pair_targets = if pairs == 0 || relation_types == 0 {
            None
        } else {
            Some(Tensor::from_vec(pair_targets, (pairs, relation_types), device)?)
        };
        Ok(Self {
            span_rows: rows(span_rows)?,
            span_labels: rows(span_labels)?,
            pair_rows: rows(pair_rows)?,
            pair_targets,
            max_spans,
            max_pairs,
        })
    }

    /// Number of real spans.
    pub fn span_count(&self) -> usize {
        self.span_rows.as_ref().map_or(0, Tensor::elem_count)
    }

    /// Number of real pairs.
    pub fn pair_count(&self) -> usize {
        self.pair_rows.as_ref().map_or(0, Tensor::elem_count)
    }
}

/// `max(x, 0) - x·z + log(1 + exp(-|x|))`: binary cross-entropy of sigmoid(`logits`) against
/// `targets`, element-wise, without overflow for large |x|.
/// One fused graph node in f32 ([`crate::model::fused::bce_with_logits`]).
pub fn bce_with_logits(logits: &Tensor, targets: &Tensor) -> Result<Tensor> {
    crate::model::fused::bce_with_logits(logits, targets)
}

/// The joint loss of eq. 10 (an f32 scalar) from span logits `[B, S, C]` and relation logits
/// `[B, P, R]` of a forward pass over the batch `targets` was built for.
pub fn joint_loss(
    span_logits: &Tensor,
    relation_logits: &Tensor,
    targets: &LossTargets,
    lambda: f64,
) -> Result<Tensor> {
    let (batch, spans, classes) = span_logits.dims3()?;
    let (_, pairs, types) = relation_logits.dims3()?;
    if spans != targets.max_spans || pairs != targets.max_pairs {
        candle_core::bail!(
            "logits for {spans} spans and {pairs} pairs, targets for {} and {}",
            targets.max_spans,
            targets.max_pairs
        );
    }
    let device = span_logits.device();
    let mut loss = Tensor::new(0f32, device)?;
    if let (Some(rows), Some(labels)) = (&targets.span_rows, &targets.span_labels) {
        let logits = span_logits
            .to_dtype(DType::F32)?
            .reshape((batch * spans, classes))?
            .index_select(rows, 0)?;
        let ce = crate::model::fused::cross_entropy(&logits, labels)?;
        loss = (loss + (ce * lambda)?)?;
    }
    if let (Some(rows), Some(target)) = (&targets.pair_rows, &targets.pair_targets) {
        let logits = relation_logits
            .to_dtype(DType::F32)?
            .reshape((batch * pairs, types))?
            .index_select(rows, 0)?;
        // SpERT: mean over the relation types of each pair, then over the pairs.
        let bce = bce_with_logits(&logits, target)?.mean(D::Minus1)?.mean_all()?;
        loss = (loss + bce)?;
    }
    Ok(loss)
}
