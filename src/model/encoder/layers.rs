//! The encoder's parts: embeddings, layer norm, the q/k/v projections and a layer, with the
//! forward passes each path runs through a layer ([`super::EncoderPath`]).

use std::sync::Arc;

use candle_core::{DType, Module, Tensor};
use candle_nn::{Linear, VarBuilder};

use super::super::config::{BertConfig, HiddenAct};
use super::super::fused::layer_node::{DropoutKeys, LayerParams, NodeWeights, Params};
use super::super::fused::{self, DropoutStream, WeightGrads};
use super::packed::PackedRun;

pub(super) fn is_half(dtype: DType) -> bool {
    matches!(dtype, DType::F16 | DType::BF16)
}

/// A copy of `t` with its own storage and no gradient tracking.
pub(super) fn owned(t: &Tensor) -> candle_core::Result<Tensor> {
    Ok(t.copy()?.detach())
}

pub(super) fn maybe_dropout(
    x: Tensor,
    p: f64,
    train: bool,
    stream: &DropoutStream,
) -> candle_core::Result<Tensor> {
    if train && p > 0.0 {
        fused::dropout(&x, p as f32, stream.next_key())
    } else {
        Ok(x)
    }
}

/// Layer norm with a bias, computed in f32 for half inputs.
#[derive(Debug, Clone)]
pub(super) struct Norm {
    pub(super) weight: Tensor,
    pub(super) bias: Tensor,
    /// f32 copies of weight and bias for half-precision weights that are not trained.
    pub(super) f32_params: Option<(Tensor, Tensor)>,
    pub(super) eps: f64,
    pub(super) sink: WeightGrads,
}

impl Norm {
    pub(super) fn load(
        vb: VarBuilder,
        size: usize,
        eps: f64,
        sink: &WeightGrads,
    ) -> candle_core::Result<Self> {
        let weight = vb.get(size, "weight")?;
        let bias = vb.get(size, "bias")?;
        let f32_params = if is_half(weight.dtype()) && !weight.is_variable() {
            Some((weight.to_dtype(DType::F32)?, bias.to_dtype(DType::F32)?))
        } else {
            None
        };
        Ok(Self { weight, bias, f32_params, eps, sink: sink.clone() })
    }

    /// A copy that owns its tensors and tracks no gradient.
    pub(super) fn frozen(&self) -> candle_core::Result<Self> {
        let (weight, bias) = (owned(&self.weight)?, owned(&self.bias)?);
        let f32_params = if is_half(weight.dtype()) {
            Some((weight.to_dtype(DType::F32)?, bias.to_dtype(DType::F32)?))
        } else {
            None
        };
        Ok(Self { weight, bias, f32_params, eps: self.eps, sink: WeightGrads::default() })
    }

    pub(super) fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let dtype = x.dtype();
        let (x, w, b) = match (&self.f32_params, is_half(dtype)) {
            (Some((w, b)), true) => (x.to_dtype(DType::F32)?, w.clone(), b.clone()),
            (None, true) => (
                x.to_dtype(DType::F32)?,
                self.weight.to_dtype(DType::F32)?,
                self.bias.to_dtype(DType::F32)?,
            ),
            _ => (x.clone(), self.weight.clone(), self.bias.clone()),
        };
        let y = if x.track_op() || w.track_op() || b.track_op() {
            fused::layer_norm(&x, &w, &b, self.eps, Some(&self.sink))?
        } else {
            candle_nn::ops::layer_norm(&x.contiguous()?, &w, &b, self.eps as f32)?
        };
        y.to_dtype(dtype)
    }
}

#[derive(Debug, Clone)]
pub(super) struct Embeddings {
    pub(super) word: Tensor,
    pub(super) position: Tensor,
    pub(super) token_type: Tensor,
    pub(super) norm: Norm,
    pub(super) dropout: f64,
    pub(super) stream: Arc<DropoutStream>,
    pub(super) span: tracing::Span,
}

impl Embeddings {
    pub(super) fn load(
        vb: VarBuilder,
        cfg: &BertConfig,
        stream: &Arc<DropoutStream>,
        sink: &WeightGrads,
    ) -> candle_core::Result<Self> {
        let h = cfg.hidden_size;
        Ok(Self {
            word: vb.get((cfg.vocab_size, h), "word_embeddings.weight")?,
            position: vb.get((cfg.max_position_embeddings, h), "position_embeddings.weight")?,
            token_type: vb.get((cfg.type_vocab_size, h), "token_type_embeddings.weight")?,
            norm: Norm::load(vb.pp("LayerNorm"), h, cfg.layer_norm_eps, sink)?,
            dropout: cfg.hidden_dropout_prob,
            stream: stream.clone(),
            span: tracing::span!(tracing::Level::TRACE, "embeddings"),
        })
    }

    pub(super) fn frozen(&self) -> candle_core::Result<Self> {
        Ok(Self {
            word: owned(&self.word)?,
            position: owned(&self.position)?,
            token_type: owned(&self.token_type)?,
            norm: self.norm.frozen()?,
            dropout: self.dropout,
            stream: self.stream.clone(),
            span: self.span.clone(),
        })
    }

    pub(super) fn forward(&self, input_ids: &Tensor, train: bool) -> candle_core::Result<Tensor> {
        self.forward_scaled(input_ids, None, train)
    }

    /// The embeddings of pieces laid end to end, `ids` and `positions` `[N]` (u32): rows
    /// `[N, hidden]`, each equal to its piece's row of [`Embeddings::forward`] (no dropout).
    pub(super) fn forward_rows(
        &self,
        ids: &Tensor,
        positions: &Tensor,
    ) -> candle_core::Result<Tensor> {
        let _enter = self.span.enter();
        // Same order of additions as `forward_scaled`.
        let x = self
            .word
            .index_select(ids, 0)?
            .broadcast_add(&self.token_type.narrow(0, 0, 1)?)?
            .add(&self.position.index_select(positions, 0)?)?;
        self.norm.forward(&x)
    }

    /// The embeddings with each piece's word embedding multiplied by `word_scale` `[B, T]`
    /// (positions and token types stay): the input of word attributions, 0 the baseline.
    pub(super) fn forward_scaled(
        &self,
        input_ids: &Tensor,
        word_scale: Option<&Tensor>,
        train: bool,
    ) -> candle_core::Result<Tensor> {
        let _enter = self.span.enter();
        let (b, t) = input_ids.dims2()?;
        let h = self.word.dim(1)?;
        let mut words = self.word.index_select(&input_ids.flatten_all()?, 0)?.reshape((b, t, h))?;
        if let Some(scale) = word_scale {
            words = words.broadcast_mul(&scale.to_dtype(words.dtype())?.reshape((b, t, 1))?)?;
        }
        // Same order of additions as transformers: words + token type, then + position.
        let x = words
            .broadcast_add(&self.token_type.narrow(0, 0, 1)?)?
            .broadcast_add(&self.position.narrow(0, 0, t)?)?;
        maybe_dropout(self.norm.forward(&x)?, self.dropout, train, &self.stream)
    }
}

/// The query, key and value projections.
#[derive(Debug, Clone)]
pub(super) enum Qkv {
    /// One `[3H, H]` projection, query rows pre-scaled by 1/√d (inference).
    Fused(Linear),
    /// The loaded q, k, v weights and biases, each projected on its own (training).
    Separate([Tensor; 3], [Tensor; 3]),
}

impl Qkv {
    /// One projection from the three, with 1/√d folded into the query rows.
    pub(super) fn fuse(
        weights: &[Tensor; 3],
        biases: &[Tensor; 3],
        head_size: usize,
    ) -> candle_core::Result<Self> {
        let scale = 1.0 / (head_size as f64).sqrt();
        let [wq, wk, wv] = weights;
        let [bq, bk, bv] = biases;
        let w = Tensor::cat(&[&(wq * scale)?, wk, wv], 0)?.contiguous()?;
        let b = Tensor::cat(&[&(bq * scale)?, bk, bv], 0)?;
        Ok(Self::Fused(Linear::new(w.detach(), Some(b.detach()))))
    }
}

/// A dense layer: one fused graph node when its weights are trained (their gradients handed to
/// `sink` when it collects), candle's `Linear` otherwise.
pub(crate) fn dense(l: &Linear, x: &Tensor, sink: &WeightGrads) -> candle_core::Result<Tensor> {
    match l.bias() {
        Some(bias) if l.weight().is_variable() => {
            fused::linear(x, l.weight(), bias, None, Some(sink))
        }
        _ => l.forward(x),
    }
}

/// A copy of `l` that owns its tensors and tracks no gradient.
pub(super) fn frozen_linear(l: &Linear) -> candle_core::Result<Linear> {
    let bias = l.bias().map(owned).transpose()?;
    Ok(Linear::new(owned(l.weight())?, bias))
}

#[derive(Debug, Clone)]
pub(super) struct Layer {
    pub(super) qkv: Qkv,
    pub(super) attn_out: Linear,
    pub(super) attn_norm: Norm,
    pub(super) intermediate: Linear,
    pub(super) output: Linear,
    pub(super) out_norm: Norm,
    pub(super) act: HiddenAct,
    pub(super) heads: usize,
    pub(super) head_size: usize,
    pub(super) hidden_dropout: f64,
    pub(super) attn_dropout: f64,
    pub(super) stream: Arc<DropoutStream>,
    pub(super) sink: WeightGrads,
    pub(super) span: tracing::Span,
}

/// The bias of a dense layer (every layer of BERT has one).
pub(super) fn dense_bias(l: &Linear) -> candle_core::Result<&Tensor> {
    l.bias()
        .ok_or_else(|| candle_core::Error::Msg("a dense layer of the encoder has no bias".into()))
}

impl Layer {
    pub(super) fn load(
        vb: VarBuilder,
        index: usize,
        cfg: &BertConfig,
        stream: &Arc<DropoutStream>,
        sink: &WeightGrads,
    ) -> candle_core::Result<Self> {
        let h = cfg.hidden_size;
        let heads = cfg.num_attention_heads;
        let head_size = cfg.head_size();
        let sa = vb.pp("attention").pp("self");
        let q = candle_nn::linear(h, h, sa.pp("query"))?;
        let k = candle_nn::linear(h, h, sa.pp("key"))?;
        let v = candle_nn::linear(h, h, sa.pp("value"))?;
        let weights = [&q, &k, &v].map(|l| l.weight().clone());
        let biases = [dense_bias(&q)?.clone(), dense_bias(&k)?.clone(), dense_bias(&v)?.clone()];
        // Trainable weights keep their own projections (each a Var with its own gradient).
        let trainable = weights.iter().chain(&biases).any(Tensor::is_variable);
        let qkv = if trainable {
            Qkv::Separate(weights, biases)
        } else {
            Qkv::fuse(&weights, &biases, head_size)?
        };
        let ao = vb.pp("attention").pp("output");
        Ok(Self {
            qkv,
            attn_out: candle_nn::linear(h, h, ao.pp("dense"))?,
            attn_norm: Norm::load(ao.pp("LayerNorm"), h, cfg.layer_norm_eps, sink)?,
            intermediate: candle_nn::linear(h, cfg.intermediate_size, vb.pp("intermediate.dense"))?,
            output: candle_nn::linear(cfg.intermediate_size, h, vb.pp("output.dense"))?,
            out_norm: Norm::load(vb.pp("output.LayerNorm"), h, cfg.layer_norm_eps, sink)?,
            act: cfg.hidden_act,
            heads,
            head_size,
            hidden_dropout: cfg.hidden_dropout_prob,
            attn_dropout: cfg.attention_probs_dropout_prob,
            stream: stream.clone(),
            sink: sink.clone(),
            span: tracing::span!(tracing::Level::TRACE, "layer", index),
        })
    }

    pub(super) fn frozen(&self) -> candle_core::Result<Self> {
        let qkv = match &self.qkv {
            Qkv::Fused(lin) => Qkv::Fused(frozen_linear(lin)?),
            Qkv::Separate(w, b) => Qkv::fuse(w, b, self.head_size)?,
        };
        Ok(Self {
            qkv,
            attn_out: frozen_linear(&self.attn_out)?,
            attn_norm: self.attn_norm.frozen()?,
            intermediate: frozen_linear(&self.intermediate)?,
            output: frozen_linear(&self.output)?,
            out_norm: self.out_norm.frozen()?,
            ..self.clone()
        })
    }

    /// Whether the layer takes [`EncoderPath::Lean`] on f32 input: frozen f32 weights (the
    /// fused q/k/v product) with erf GELU and biases.
    pub(super) fn lean_ready(&self) -> bool {
        let Qkv::Fused(qkv) = &self.qkv else {
            return false;
        };
        let f32s = [qkv.weight(), self.attn_out.weight(), self.intermediate.weight()]
            .into_iter()
            .chain([self.output.weight(), &self.attn_norm.weight, &self.out_norm.weight])
            .all(|w| w.dtype() == DType::F32);
        let dense = [qkv, &self.attn_out, &self.intermediate, &self.output];
        self.act == HiddenAct::Gelu && f32s && dense.iter().all(|l| l.bias().is_some())
    }

    /// The parameters for training the layer as one graph node ([`layer_node`]): trained
    /// (separate q, k, v) weights with erf GELU.
    pub(super) fn node_params(&self) -> candle_core::Result<LayerParams> {
        let (Qkv::Separate(w, b), HiddenAct::Gelu) = (&self.qkv, self.act) else {
            candle_core::bail!("only trained layers with erf GELU are graph nodes");
        };
        let pair = |l: &Linear| -> candle_core::Result<Params> {
            Ok((l.weight().clone(), dense_bias(l)?.clone()))
        };
        let norm = |n: &Norm| (n.weight.clone(), n.bias.clone());
        Ok(LayerParams {
            query: (w[0].clone(), b[0].clone()),
            key: (w[1].clone(), b[1].clone()),
            value: (w[2].clone(), b[2].clone()),
            attn_out: pair(&self.attn_out)?,
            attn_norm: norm(&self.attn_norm),
            intermediate: pair(&self.intermediate)?,
            output: pair(&self.output)?,
            out_norm: norm(&self.out_norm),
            eps: self.out_norm.eps as f32,
            heads: self.heads,
        })
    }

    /// Whether the layer can be an explained graph node ([`layer_node::forward_gated`]): f32
    /// weights with erf GELU and biases.
    pub(super) fn gated_node_ready(&self) -> bool {
        let qkv_bias = match &self.qkv {
            Qkv::Fused(lin) => lin.bias().is_some(),
            Qkv::Separate(..) => true,
        };
        let dense = [&self.attn_out, &self.intermediate, &self.output];
        self.act == HiddenAct::Gelu
            && self.attn_out.weight().dtype() == DType::F32
            && qkv_bias
            && dense.iter().all(|l| l.bias().is_some())
    }

    /// The detached f32 weights of the layer as one explained graph node
    /// ([`layer_node::forward_gated`]); [`Layer::gated_node_ready`] says whether they fit.
    pub(super) fn gated_weights(&self) -> candle_core::Result<NodeWeights> {
        let pair = |l: &Linear| -> candle_core::Result<Params> {
            Ok((l.weight().detach(), dense_bias(l)?.detach()))
        };
        let norm = |n: &Norm| (n.weight.detach(), n.bias.detach());
        let (qkv, scale) = match &self.qkv {
            // The query rows carry 1/√d.
            Qkv::Fused(lin) => (pair(lin)?, 1.0),
            Qkv::Separate(w, b) => {
                let cat = |t: &[Tensor; 3]| Tensor::cat(&t.each_ref().map(Tensor::detach), 0);
                ((cat(w)?, cat(b)?), 1.0 / (self.head_size as f32).sqrt())
            }
        };
        Ok(NodeWeights {
            qkv,
            attn_out: pair(&self.attn_out)?,
            attn_norm: norm(&self.attn_norm),
            intermediate: pair(&self.intermediate)?,
            output: pair(&self.output)?,
            out_norm: norm(&self.out_norm),
            eps: self.out_norm.eps as f32,
            heads: self.heads,
            scale,
        })
    }

    /// The keys of the layer's three dropout sites, drawn in the per-op path's order.
    pub(super) fn dropout_keys(&self, train: bool) -> DropoutKeys {
        let site = |p: f64| (train && p > 0.0).then(|| (p as f32, self.stream.next_key()));
        DropoutKeys {
            attention: site(self.attn_dropout),
            attended: site(self.hidden_dropout),
            output: site(self.hidden_dropout),
        }
    }

    /// [`EncoderPath::Lean`] ([`Layer::lean_ready`] layers, f32 input): the fused
    /// query-key-value product with its bias added in the split into heads, the masked softmax
    /// in the matrix product's kernel pair, and each later bias folded into the step after its
    /// product (bias + residual + layer norm, bias + GELU): fewer kernels a layer than the
    /// composed ops (docs/BENCHMARKS.md). Returns the new hidden states and the attention
    /// probabilities `[B, heads, T, T]`.
    pub(super) fn forward_lean(
        &self,
        x: &Tensor,
        mask: &Tensor,
    ) -> candle_core::Result<(Tensor, Tensor)> {
        let Qkv::Fused(qkv) = &self.qkv else {
            candle_core::bail!("the lean path needs the fused query-key-value product");
        };
        let b_qkv = dense_bias(qkv)?;
        let (b, t, h) = x.dims3()?;
        let product = |x: &Tensor, l: &Linear| x.matmul(&l.weight().t()?);
        let rows = x.reshape((b * t, h))?;
        // [B, T, 3, heads, d] -> [3, B, heads, T, d]; the query rows carry 1/√d already.
        let qkv = fused::bias_split_heads(
            &product(&rows, qkv)?.reshape((b, t, 3 * h))?,
            b_qkv,
            self.heads,
        )?;
        let probs =
            fused::attention_probs(&qkv.get(0)?, &qkv.get(1)?, &mask.reshape((b, t))?, 1.0)?;
        let context = probs.matmul(&qkv.get(2)?)?.transpose(1, 2)?.reshape((b * t, h))?;
        Ok((self.lean_rest(&rows, &context)?.reshape((b, t, h))?, probs))
    }

    /// [`EncoderPath::Packed`](super::EncoderPath::Packed) (lean-ready layers, f32 rows): the
    /// dense products over every piece of every sentence laid end to end, `rows` `[N,
    /// hidden]`, and attention within each run of equal-length sentences, so that no product
    /// touches padding. `on_probs` receives each run's probabilities `[count, heads, length,
    /// length]` (in `runs` order) as soon as they exist. Returns the new rows.
    pub(super) fn forward_packed(
        &self,
        rows: &Tensor,
        runs: &[PackedRun],
        on_probs: &mut dyn FnMut(usize, &Tensor) -> candle_core::Result<()>,
    ) -> candle_core::Result<Tensor> {
        let Qkv::Fused(qkv) = &self.qkv else {
            candle_core::bail!("the packed path needs the fused query-key-value product");
        };
        let b_qkv = dense_bias(qkv)?;
        let h = rows.dim(1)?;
        // The query rows carry 1/√d already.
        let qkv = rows.matmul(&qkv.weight().t()?)?;
        let mut contexts = Vec::with_capacity(runs.len());
        for (r, run) in runs.iter().enumerate() {
            let (g, t) = (run.count, run.length);
            let own = qkv.narrow(0, run.offset, g * t)?.reshape((g, t, 3 * h))?;
            let split = fused::bias_split_heads(&own, b_qkv, self.heads)?;
            // Every key is real: the additive mask is all zeros.
            let mask = Tensor::zeros((g, t), DType::F32, rows.device())?;
            let probs = fused::attention_probs(&split.get(0)?, &split.get(1)?, &mask, 1.0)?;
            contexts.push(probs.matmul(&split.get(2)?)?.transpose(1, 2)?.reshape((g * t, h))?);
            on_probs(r, &probs)?;
        }
        self.lean_rest(rows, &Tensor::cat(&contexts, 0)?)
    }

    /// The lean layer after attention, on rows `[N, hidden]`: the output projection with bias,
    /// residual and layer norm, then the feed-forward block with bias + GELU and bias,
    /// residual and layer norm.
    fn lean_rest(&self, rows: &Tensor, context: &Tensor) -> candle_core::Result<Tensor> {
        let (b_attn, b_inner) = (dense_bias(&self.attn_out)?, dense_bias(&self.intermediate)?);
        let b_out = dense_bias(&self.output)?;
        let product = |x: &Tensor, l: &Linear| x.matmul(&l.weight().t()?);
        let attended = fused::bias_residual_layer_norm(
            &product(context, &self.attn_out)?,
            b_attn,
            rows,
            (&self.attn_norm.weight, &self.attn_norm.bias),
            self.attn_norm.eps as f32,
        )?;
        let inner = fused::bias_gelu(&product(&attended, &self.intermediate)?, b_inner)?;
        fused::bias_residual_layer_norm(
            &product(&inner, &self.output)?,
            b_out,
            &attended,
            (&self.out_norm.weight, &self.out_norm.bias),
            self.out_norm.eps as f32,
        )
    }

    /// The layer in composed ops; `gate` `[B, heads]` scales each head's context before the
    /// output projection (the explanation path: ξ_h of Michel et al. 2019). Gated, the softmax
    /// is the fused node with a backward pass, so ∂/∂ξ flows through every later layer.
    pub(super) fn forward_composed(
        &self,
        x: &Tensor,
        mask: &Tensor,
        train: bool,
        gate: Option<&Tensor>,
    ) -> candle_core::Result<(Tensor, Tensor)> {
        let (b, t, _) = x.dims3()?;
        let (probs, v) = match &self.qkv {
            Qkv::Fused(lin) => {
                // [B, T, 3, heads, d] -> [3, B, heads, T, d]
                let qkv = lin
                    .forward(x)?
                    .reshape((b, t, 3, self.heads, self.head_size))?
                    .permute((2, 0, 3, 1, 4))?
                    .contiguous()?;
                let (q, k, v) = (qkv.get(0)?, qkv.get(1)?, qkv.get(2)?);
                if gate.is_some() {
                    // Query rows carry 1/√d already.
                    let probs = fused::attention_probs(&q, &k, &mask.reshape((b, t))?, 1.0)?;
                    return self.finish(x, probs, &v, train, gate);
                }
                let scores = q.matmul(&k.t()?)?.to_dtype(DType::F32)?.broadcast_add(mask)?;
                (candle_nn::ops::softmax_last_dim(&scores)?, v)
            }
            Qkv::Separate(w, bias) => {
                // Training: each projection straight into heads, the probabilities one node.
                let sink = Some(&self.sink);
                let split = |i: usize| fused::linear(x, &w[i], &bias[i], Some(self.heads), sink);
                let (q, k, v) = (split(0)?, split(1)?, split(2)?);
                let scale = 1.0 / (self.head_size as f64).sqrt();
                (fused::attention_probs(&q, &k, &mask.reshape((b, t))?, scale)?, v)
            }
        };
        self.finish(x, probs, &v, train, gate)
    }

    /// The layer from its attention probabilities and values on: the heads' contexts (each
    /// scaled by its gate), the output projection, the feed-forward block.
    pub(super) fn finish(
        &self,
        x: &Tensor,
        probs: Tensor,
        v: &Tensor,
        train: bool,
        gate: Option<&Tensor>,
    ) -> candle_core::Result<(Tensor, Tensor)> {
        let (b, t, h) = x.dims3()?;
        let dtype = x.dtype();
        let stream = &self.stream;
        let mix =
            maybe_dropout(probs.clone(), self.attn_dropout, train, stream)?.to_dtype(dtype)?;
        let heads = mix.matmul(v)?;
        let heads = match gate {
            Some(g) => heads.broadcast_mul(&g.to_dtype(dtype)?.reshape((b, self.heads, 1, 1))?)?,
            None => heads,
        };
        let context = heads.transpose(1, 2)?.reshape((b, t, h))?;
        let attended = maybe_dropout(
            dense(&self.attn_out, &context, &self.sink)?,
            self.hidden_dropout,
            train,
            stream,
        )?;
        let attended = self.attn_norm.forward(&(attended + x)?)?;
        let inner = dense(&self.intermediate, &attended, &self.sink)?;
        let inner = match self.act {
            HiddenAct::Gelu if inner.track_op() => fused::gelu_erf(&inner)?,
            HiddenAct::Gelu => inner.gelu_erf()?,
            HiddenAct::GeluNew | HiddenAct::GeluPytorchTanh => inner.gelu()?,
            HiddenAct::Relu => inner.relu()?,
        };
        let out = maybe_dropout(
            dense(&self.output, &inner, &self.sink)?,
            self.hidden_dropout,
            train,
            stream,
        )?;
        Ok((self.out_norm.forward(&(out + attended)?)?, probs))
    }
}
