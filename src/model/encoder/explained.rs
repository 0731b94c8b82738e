//! The explanation passes: the encoder with a gate ξ on each head's output, optionally
//! with scaled word embeddings ([`EncoderPath::Gated`], [`EncoderPath::GatedNodes`]), and the
//! shared-row pass for many gates of one sentence.

use candle_core::{DType, Tensor};

use super::{additive_mask, BertEncoder, EncoderOutput, EncoderPath, Pass};
use crate::model::fused::layer_node::{self, Slot};

impl BertEncoder {
    /// The encoder with a gate ξ on every head's output, `gate` `[B, layers, heads]` (any
    /// float dtype; 1 keeps a head, 0 masks it, a `Var` gives ∂/∂ξ). The explanation path:
    /// no dropout, no fused inference kernels; see [`BertEncoder::forward_explained`].
    pub fn forward_gated(
        &self,
        input_ids: &Tensor,
        attention_mask: &Tensor,
        gate: &Tensor,
    ) -> candle_core::Result<EncoderOutput> {
        self.forward_explained(input_ids, attention_mask, gate, None)
    }

    /// [`BertEncoder::forward_gated`] with each piece's word embedding scaled by
    /// `word_scale` `[B, T]` (1 keeps it, 0 leaves only position and token type): a `Var`
    /// gives ∂/∂scale, whose integral over the scale is a piece's integrated gradient.
    ///
    /// When ξ or the scale tracks gradients, each layer of f32 weights with erf GELU is one
    /// graph node with a hand-written backward pass ([`layer_node::forward_gated`]);
    /// [`BertEncoder::forward_explained_composed`] is the reference it is tested against.
    pub fn forward_explained(
        &self,
        input_ids: &Tensor,
        attention_mask: &Tensor,
        gate: &Tensor,
        word_scale: Option<&Tensor>,
    ) -> candle_core::Result<EncoderOutput> {
        self.explained(input_ids, attention_mask, gate, word_scale, true)
    }

    /// [`BertEncoder::forward_explained`] in composed ops only, whose gradients candle's own
    /// backward pass derives: the reference for the layer nodes.
    pub fn forward_explained_composed(
        &self,
        input_ids: &Tensor,
        attention_mask: &Tensor,
        gate: &Tensor,
        word_scale: Option<&Tensor>,
    ) -> candle_core::Result<EncoderOutput> {
        self.explained(input_ids, attention_mask, gate, word_scale, false)
    }

    fn explained(
        &self,
        input_ids: &Tensor,
        attention_mask: &Tensor,
        gate: &Tensor,
        word_scale: Option<&Tensor>,
        nodes_allowed: bool,
    ) -> candle_core::Result<EncoderOutput> {
        let (b, t) = input_ids.dims2()?;
        let (layers, heads) = (self.cfg.num_hidden_layers, self.cfg.num_attention_heads);
        if attention_mask.dims() != [b, t] || gate.dims() != [b, layers, heads] {
            candle_core::bail!(
                "gate {:?} and attention mask {:?} for input ids [{b}, {t}] and {layers} x {heads} heads",
                gate.dims(),
                attention_mask.dims()
            );
        }
        if word_scale.is_some_and(|s| s.dims() != [b, t]) {
            candle_core::bail!(
                "word scale {:?} for input ids [{b}, {t}]",
                word_scale.map(|s| s.dims())
            );
        }
        self.check_length(t)?;
        let mask = additive_mask(attention_mask, (b, t))?;
        let mut x = self.embeddings.forward_scaled(input_ids, word_scale, false)?;
        let tracked = gate.track_op() || x.track_op();
        if self.path(Pass::Explained { tracked, nodes_allowed }) == EncoderPath::GatedNodes {
            // A gradient is wanted: a node a layer with its backward pass written out, and
            // one node for the stacked attentions (as in training).
            let mask = mask.reshape((b, t))?;
            let slot = Slot::default();
            let mut attentions = Vec::with_capacity(self.layers.len());
            for (i, layer) in self.layers.iter().enumerate() {
                let _enter = layer.span.enter();
                let weights = layer.gated_weights()?;
                let g = gate.narrow(1, i, 1)?.reshape((b, heads))?.to_dtype(DType::F32)?;
                let (next, probs) = layer_node::forward_gated(&x, &g, &mask, &weights, (i, &slot))?;
                x = next;
                attentions.push(probs);
            }
            let attentions = layer_node::tap_attentions(&x, attentions, &slot)?;
            return Ok(EncoderOutput { hidden: x, attentions });
        }
        let mut attentions = Vec::with_capacity(self.layers.len());
        for (i, layer) in self.layers.iter().enumerate() {
            let _enter = layer.span.enter();
            let g = gate.narrow(1, i, 1)?.reshape((b, heads))?;
            let (next, probs) = layer.forward_composed(&x, &mask, false, Some(&g))?;
            x = next;
            attentions.push(probs);
        }
        Ok(EncoderOutput { hidden: x, attentions: Tensor::stack(&attentions, 1)? })
    }
}

impl BertEncoder {
    /// [`BertEncoder::forward_gated`] for `n` rows of one sentence that differ only in their
    /// gates (`input_ids`, `attention_mask` `[1, T]`, `gate` `[n, layers, heads]`): a row shares
    /// the unmasked row's hidden states up to the first layer its gate masks anything, so
    /// those layers run once for all rows. A single-head sweep then runs 252 of the 432
    /// layer-rows of MiniLM's 72 separate rows (936 of 1,728 for BERT-base). Rows that mask
    /// nothing are the unmasked row.
    pub fn forward_gated_shared(
        &self,
        input_ids: &Tensor,
        attention_mask: &Tensor,
        gate: &Tensor,
    ) -> candle_core::Result<EncoderOutput> {
        let (layers, heads) = (self.cfg.num_hidden_layers, self.cfg.num_attention_heads);
        let (n, t) = (gate.dim(0)?, input_ids.dim(1)?);
        if input_ids.dims() != [1, t]
            || attention_mask.dims() != [1, t]
            || gate.dims() != [n, layers, heads]
        {
            candle_core::bail!(
                "shared rows take one sentence: input ids {:?}, attention mask {:?}, gate {:?}",
                input_ids.dims(),
                attention_mask.dims(),
                gate.dims()
            );
        }
        self.check_length(t)?;
        let values = gate.to_dtype(DType::F32)?.to_vec3::<f32>()?;
        let first: Vec<usize> = values
            .iter()
            .map(|row| row.iter().position(|l| l.iter().any(|&g| g != 1.0)).unwrap_or(layers))
            .collect();
        let mask = additive_mask(attention_mask, (1, t))?;
        let mut shared = self.embeddings.forward(input_ids, false)?;
        let mut apart: Option<Tensor> = None;
        // Rows running on their own, in the order they left the shared row.
        let mut active: Vec<usize> = Vec::new();
        let mut probs_by_layer = Vec::with_capacity(layers);
        // Always the gated path in composed ops: no gradient flows through shared rows.
        for (l, layer) in self.layers.iter().enumerate() {
            let _enter = layer.span.enter();
            let leaving: Vec<usize> = (0..n).filter(|&r| first[r] == l).collect();
            if !leaving.is_empty() {
                let copies = shared.broadcast_as((leaving.len(), t, shared.dim(2)?))?;
                apart = Some(match apart {
                    Some(a) => Tensor::cat(&[&a, &copies], 0)?,
                    None => copies.contiguous()?,
                });
                active.extend(leaving);
            }
            let rows = 1 + active.len();
            let x = match &apart {
                Some(a) => Tensor::cat(&[&shared, a], 0)?,
                None => shared.clone(),
            };
            let mut g = vec![1f32; rows * heads];
            for (i, &r) in active.iter().enumerate() {
                g[(i + 1) * heads..(i + 2) * heads].copy_from_slice(&values[r][l]);
            }
            let g = Tensor::from_vec(g, (rows, heads), gate.device())?;
            let m = mask.broadcast_as((rows, 1, 1, t))?.contiguous()?;
            let (next, probs) = layer.forward_composed(&x, &m, false, Some(&g))?;
            shared = next.narrow(0, 0, 1)?;
            apart = (rows > 1).then(|| next.narrow(0, 1, rows - 1)).transpose()?;
            probs_by_layer.push((probs, active.len()));
        }
        // Row r of each layer: its own when it had left by then, else the shared row's.
        let place = |left: usize| -> candle_core::Result<Tensor> {
            let mut index = vec![0u32; n];
            for (i, &r) in active.iter().take(left).enumerate() {
                index[r] = i as u32 + 1;
            }
            Tensor::from_vec(index, n, gate.device())
        };
        let mut attentions = Vec::with_capacity(layers);
        for (probs, left) in &probs_by_layer {
            attentions.push(probs.index_select(&place(*left)?, 0)?);
        }
        let last = match &apart {
            Some(a) => Tensor::cat(&[&shared, a], 0)?,
            None => shared,
        };
        let hidden = last.index_select(&place(active.len())?, 0)?;
        Ok(EncoderOutput { hidden, attentions: Tensor::stack(&attentions, 1)? })
    }
}
