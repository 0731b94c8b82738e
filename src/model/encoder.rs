//! Our BERT: the hidden states of the last layer and the attention probabilities of every
//! layer and head, `[B, layers, heads, T, T]` (docs/DESIGN.md §1; the paper's Algorithms 1 and 2
//! read them to compute the attention contribution degree f_a).
//!
//! The computation is transformers' `BertModel` in eager mode (Devlin et al. 2019, §3;
//! Vaswani et al. 2017, eq. 1): embeddings = LN(word + token_type\[0\] + position), then per
//! layer `A = softmax(Q Kᵀ / √d + mask)`, `h = LN(x + Dense(A V))`, `out = LN(h + FFN(h))`.
//! Padding keys get the most negative finite f32 added to their logits, as transformers does,
//! so a row with no real key stays finite.
//!
//! The paths a pass can take ([`EncoderPath`]) are chosen once, when the encoder is built, from
//! its weights: their dtype, whether they train (`Var`s of a `VarMap`) and the activation. A
//! call decides only what depends on it, in one place (`BertEncoder::path`): whether a
//! gradient flows and the training loop collects the weights' gradients, and whether it asks
//! for gates. Every fast path is tested against a slower reference:
//!
//! | path | taken when | proved equal to the reference by |
//! |------|------------|----------------------------------|
//! | [`Lean`](EncoderPath::Lean) | `forward`: frozen f32 weights, erf GELU |
//! `tests/model/encoder_reference.rs` `matches_plain_reference_on_padded_batch`;
//! `tests/model/encoder_parity.rs` `matches_transformers_on_tiny_bert`; `tests/cuda.rs`
//! `encoder_matches_transformers_on_cuda` | | [`FusedQkv`](EncoderPath::FusedQkv) | `forward`:
//! frozen f16 or bf16 weights, or another activation | `tests/model/encoder_reference.rs`
//! `other_activations_match_the_plain_reference`, `half_precision_is_close_to_f32` | |
//! [`SeparateQkv`](EncoderPath::SeparateQkv) | `forward`: trainable weights |
//! `tests/model/encoder_reference.rs` `trainable_path_matches_inference_path_and_has_gradients` | |
//! [`LayerNodes`](EncoderPath::LayerNodes) | `forward`: trainable f32 weights, erf GELU, the input
//! tracks gradients and [`WeightGrads`] collects | `tests/model/encoder_reference.rs`
//! `layers_trained_as_one_graph_node_match_the_per_op_graph` | | [`Gated`](EncoderPath::Gated) |
//! `forward_gated`, `forward_explained` with no gradient wanted; `forward_gated_shared`;
//! `forward_explained_composed` | `tests/explain/heads.rs`
//! `masking_nothing_reproduces_the_prediction`,
//! `masking_a_head_equals_zeroing_its_output_projection_columns`,
//! `rows_sharing_their_unmasked_layers_equal_separate_rows` | |
//! [`GatedNodes`](EncoderPath::GatedNodes) | `forward_explained` (and `forward_gated`) when ξ or
//! the word scale tracks gradients: f32 weights, erf GELU | `tests/explain/prediction.rs`
//! `the_layer_nodes_give_the_composed_gradients` | | CUDA graph | around `Lean` or `FusedQkv`:
//! [`Aspert::encode`](super::aspert::Aspert::encode) of an inference copy on a GPU, for a batch
//! shape seen before ([`super::graphs`]) | `tests/cuda.rs`
//! `encoder_graphs_replay_the_direct_pass_exactly` |
//!
//! Dropout masks come from the encoder's [`DropoutStream`], so a seeded run repeats on the CPU
//! and the GPU alike. The encoder logs its path when it loads; each stage (embeddings, each
//! layer) has a `TRACE` span (docs/BENCHMARKS.md, "Stage spans", says how to see them).
//!
//! Half-precision weights run softmax and layer norm in f32; the returned attentions are
//! always f32.

use std::collections::HashMap;
use std::fmt;
use std::path::Path;
use std::sync::Arc;

use candle_core::{DType, Device, DeviceLocation, Module, Tensor};
use candle_nn::{Linear, VarBuilder};

use super::config::{BertConfig, HiddenAct};
use super::fused::layer_node::{self, DropoutKeys, LayerParams, NodeWeights, Params, Slot};
use super::fused::{self, DropoutStream, WeightGrads};

/// What one forward pass returns.
#[derive(Debug, Clone)]
pub struct EncoderOutput {
    /// Last layer's hidden states, `[B, T, hidden]`, in the weights' dtype.
    pub hidden: Tensor,
    /// Softmax attention probabilities of every layer and head, `[B, layers, heads, T, T]`,
    /// f32, taken before attention dropout. Rows are queries, columns keys.
    pub attentions: Tensor,
}

/// How a pass through the encoder is computed (the module header's table).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EncoderPath {
    /// Inference with frozen f32 weights and erf GELU: Q, K and V in one product (1/√d folded
    /// into the query rows at load), then the masked softmax, bias + residual + layer norm,
    /// and bias + GELU as fused inference kernels.
    Lean,
    /// Inference with frozen weights otherwise (half precision, other activations): the one
    /// q/k/v product, then candle's softmax and layer-norm kernels (computed in f32).
    FusedQkv,
    /// Trainable weights: q, k and v each projected straight into heads, and spanscope's fused
    /// ops with their own backward passes ([`super::fused`]; candle's fused kernels have none).
    SeparateQkv,
    /// Training f32 weights with erf GELU while their gradients are collected: a layer is one
    /// graph node with a hand-written backward pass ([`layer_node`]).
    LayerNodes,
    /// An explanation pass in composed ops, a gate ξ on each head's output.
    Gated,
    /// An explanation pass that follows a gradient, f32 weights with erf GELU: a layer is one
    /// graph node ([`layer_node::forward_gated`]).
    GatedNodes,
}

impl EncoderPath {
    /// The path's name in the log.
    pub fn name(self) -> &'static str {
        match self {
            Self::Lean => "lean inference",
            Self::FusedQkv => "fused q/k/v inference",
            Self::SeparateQkv => "separate q/k/v training",
            Self::LayerNodes => "layer nodes training",
            Self::Gated => "gated explanation",
            Self::GatedNodes => "gated layer nodes explanation",
        }
    }
}

impl fmt::Display for EncoderPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What the encoder's weights allow, decided once when it is built ([`Paths::of`]).
#[derive(Debug, Clone, Copy)]
struct Paths {
    /// The path of [`BertEncoder::forward`]: `Lean`, `FusedQkv` or `SeparateQkv`.
    plain: EncoderPath,
    /// Whether a training pass may run the layers as graph nodes (`LayerNodes`).
    layer_nodes: bool,
    /// Whether an explanation pass that follows a gradient may (`GatedNodes`).
    gated_nodes: bool,
}

impl Paths {
    fn of(embeddings: &Embeddings, layers: &[Layer]) -> Self {
        // The hidden states have the word embeddings' dtype.
        let f32 = embeddings.word.dtype() == DType::F32;
        let plain = if f32 && layers.iter().all(Layer::lean_ready) {
            EncoderPath::Lean
        } else if layers.iter().any(|l| matches!(l.qkv, Qkv::Separate(..))) {
            EncoderPath::SeparateQkv
        } else {
            EncoderPath::FusedQkv
        };
        let trainable_node = |l: &Layer| l.node_params().is_ok_and(|p| p.trainable_as_node());
        Self {
            plain,
            layer_nodes: f32 && !layers.is_empty() && layers.iter().all(trainable_node),
            gated_nodes: f32 && layers.iter().all(Layer::gated_node_ready),
        }
    }
}

/// What a call asks of the encoder beyond its inputs.
#[derive(Debug, Clone, Copy)]
enum Pass {
    /// [`BertEncoder::forward`]; `tracked`: the embeddings track gradients.
    Plain { tracked: bool },
    /// An explanation pass; `tracked`: the gate or the embeddings track gradients;
    /// `nodes_allowed`: false for the composed reference.
    Explained { tracked: bool, nodes_allowed: bool },
}

/// A BERT encoder loaded from Hugging Face tensor names.
#[derive(Debug, Clone)]
pub struct BertEncoder {
    embeddings: Embeddings,
    layers: Vec<Layer>,
    cfg: BertConfig,
    dropout: Arc<DropoutStream>,
    weight_grads: WeightGrads,
    paths: Paths,
}

fn is_half(dtype: DType) -> bool {
    matches!(dtype, DType::F16 | DType::BF16)
}

/// A copy of `t` with its own storage and no gradient tracking.
fn owned(t: &Tensor) -> candle_core::Result<Tensor> {
    Ok(t.copy()?.detach())
}

fn maybe_dropout(
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
struct Norm {
    weight: Tensor,
    bias: Tensor,
    /// f32 copies of weight and bias for half-precision weights that are not trained.
    f32_params: Option<(Tensor, Tensor)>,
    eps: f64,
    sink: WeightGrads,
}

impl Norm {
    fn load(
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
    fn frozen(&self) -> candle_core::Result<Self> {
        let (weight, bias) = (owned(&self.weight)?, owned(&self.bias)?);
        let f32_params = if is_half(weight.dtype()) {
            Some((weight.to_dtype(DType::F32)?, bias.to_dtype(DType::F32)?))
        } else {
            None
        };
        Ok(Self { weight, bias, f32_params, eps: self.eps, sink: WeightGrads::default() })
    }

    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
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
struct Embeddings {
    word: Tensor,
    position: Tensor,
    token_type: Tensor,
    norm: Norm,
    dropout: f64,
    stream: Arc<DropoutStream>,
    span: tracing::Span,
}

impl Embeddings {
    fn load(
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

    fn frozen(&self) -> candle_core::Result<Self> {
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

    fn forward(&self, input_ids: &Tensor, train: bool) -> candle_core::Result<Tensor> {
        self.forward_scaled(input_ids, None, train)
    }

    /// The embeddings with each piece's word embedding multiplied by `word_scale` `[B, T]`
    /// (positions and token types stay): the input of word attributions, 0 the baseline.
    fn forward_scaled(
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
enum Qkv {
    /// One `[3H, H]` projection, query rows pre-scaled by 1/√d (inference).
    Fused(Linear),
    /// The loaded q, k, v weights and biases, each projected on its own (training).
    Separate([Tensor; 3], [Tensor; 3]),
}

impl Qkv {
    /// One projection from the three, with 1/√d folded into the query rows.
    fn fuse(
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
fn frozen_linear(l: &Linear) -> candle_core::Result<Linear> {
    let bias = l.bias().map(owned).transpose()?;
    Ok(Linear::new(owned(l.weight())?, bias))
}

#[derive(Debug, Clone)]
struct Layer {
    qkv: Qkv,
    attn_out: Linear,
    attn_norm: Norm,
    intermediate: Linear,
    output: Linear,
    out_norm: Norm,
    act: HiddenAct,
    heads: usize,
    head_size: usize,
    hidden_dropout: f64,
    attn_dropout: f64,
    stream: Arc<DropoutStream>,
    sink: WeightGrads,
    span: tracing::Span,
}

/// The bias of a dense layer (every layer of BERT has one).
fn dense_bias(l: &Linear) -> candle_core::Result<&Tensor> {
    l.bias()
        .ok_or_else(|| candle_core::Error::Msg("a dense layer of the encoder has no bias".into()))
}

impl Layer {
    fn load(
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

    fn frozen(&self) -> candle_core::Result<Self> {
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
    fn lean_ready(&self) -> bool {
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
    fn node_params(&self) -> candle_core::Result<LayerParams> {
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
    fn gated_node_ready(&self) -> bool {
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
    fn gated_weights(&self) -> candle_core::Result<NodeWeights> {
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
    fn dropout_keys(&self, train: bool) -> DropoutKeys {
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
    fn forward_lean(&self, x: &Tensor, mask: &Tensor) -> candle_core::Result<(Tensor, Tensor)> {
        let Qkv::Fused(qkv) = &self.qkv else {
            candle_core::bail!("the lean path needs the fused query-key-value product");
        };
        let (b_qkv, b_attn) = (dense_bias(qkv)?, dense_bias(&self.attn_out)?);
        let (b_inner, b_out) = (dense_bias(&self.intermediate)?, dense_bias(&self.output)?);
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
        let attended = fused::bias_residual_layer_norm(
            &product(&context, &self.attn_out)?,
            b_attn,
            &rows,
            (&self.attn_norm.weight, &self.attn_norm.bias),
            self.attn_norm.eps as f32,
        )?;
        let inner = fused::bias_gelu(&product(&attended, &self.intermediate)?, b_inner)?;
        let out = fused::bias_residual_layer_norm(
            &product(&inner, &self.output)?,
            b_out,
            &attended,
            (&self.out_norm.weight, &self.out_norm.bias),
            self.out_norm.eps as f32,
        )?;
        Ok((out.reshape((b, t, h))?, probs))
    }

    /// The layer in composed ops; `gate` `[B, heads]` scales each head's context before the
    /// output projection (the explanation path: ξ_h of Michel et al. 2019). Gated, the softmax
    /// is the fused node with a backward pass, so ∂/∂ξ flows through every later layer.
    fn forward_composed(
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
    fn finish(
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

impl BertEncoder {
    /// Loads the encoder from `vb`, which must point at the level that holds `embeddings.*`
    /// and `encoder.layer.N.*` (Hugging Face `BertModel` names; see
    /// [`crate::model::source::var_builder`] for `bert.`-prefixed and legacy checkpoints).
    /// With a `VarMap`-backed builder the parameters are trainable.
    pub fn load(vb: VarBuilder, cfg: &BertConfig) -> candle_core::Result<Self> {
        cfg.validate()
            .map_err(|reason| candle_core::Error::Msg(format!("bad BERT config: {reason}")))?;
        let dropout = Arc::new(DropoutStream::default());
        let weight_grads = WeightGrads::default();
        let embeddings = Embeddings::load(vb.pp("embeddings"), cfg, &dropout, &weight_grads)?;
        let layers = (0..cfg.num_hidden_layers)
            .map(|i| Layer::load(vb.pp("encoder.layer").pp(i), i, cfg, &dropout, &weight_grads))
            .collect::<candle_core::Result<Vec<_>>>()?;
        let paths = Paths::of(&embeddings, &layers);
        let encoder = Self { embeddings, layers, cfg: cfg.clone(), dropout, weight_grads, paths };
        tracing::info!(
            "encoder: {} layers x {} heads, {} on {}, path: {}",
            cfg.num_hidden_layers,
            cfg.num_attention_heads,
            encoder.dtype().as_str(),
            device_name(encoder.device()),
            encoder.paths.plain
        );
        Ok(encoder)
    }

    /// A copy for inference: it owns its weights (later training of `self` does not change
    /// it), tracks no gradients, and takes an inference path ([`EncoderPath::Lean`] for f32
    /// weights with erf GELU). Use it to predict with a model that was fine-tuned through a
    /// `VarMap`.
    pub fn frozen(&self) -> candle_core::Result<Self> {
        let embeddings = self.embeddings.frozen()?;
        let layers: Vec<Layer> =
            self.layers.iter().map(Layer::frozen).collect::<candle_core::Result<_>>()?;
        let paths = Paths::of(&embeddings, &layers);
        // Copies are made for every evaluation during training: logged below info.
        tracing::debug!("frozen encoder copy, path: {}", paths.plain);
        Ok(Self {
            embeddings,
            layers,
            cfg: self.cfg.clone(),
            dropout: self.dropout.clone(),
            weight_grads: WeightGrads::default(),
            paths,
        })
    }

    /// The path [`BertEncoder::forward`] takes, chosen when the encoder was built (a training
    /// pass may take [`EncoderPath::LayerNodes`] instead, as the module header says).
    pub fn forward_path(&self) -> EncoderPath {
        self.paths.plain
    }

    /// The path of one call: the one chosen at load, unless the call follows a gradient the
    /// layer nodes can give or asks for gates. The encoder's only per-call choice of path.
    fn path(&self, pass: Pass) -> EncoderPath {
        let paths = self.paths;
        match pass {
            Pass::Plain { tracked: true }
                if paths.layer_nodes && self.weight_grads.is_collecting() =>
            {
                EncoderPath::LayerNodes
            }
            Pass::Plain { .. } => paths.plain,
            Pass::Explained { tracked: true, nodes_allowed: true } if paths.gated_nodes => {
                EncoderPath::GatedNodes
            }
            Pass::Explained { .. } => EncoderPath::Gated,
        }
    }

    /// Where the fused nodes of the encoder (and the model's heads) hand their weights'
    /// gradients while a training loop collects them ([`WeightGrads`]).
    pub fn weight_grads(&self) -> &WeightGrads {
        &self.weight_grads
    }

    /// Where the encoder's dropout masks come from (shared with the model's heads); reseed it
    /// to repeat a training run.
    pub fn dropout_stream(&self) -> &Arc<DropoutStream> {
        &self.dropout
    }

    /// Whether the parameters are trainable `Var`s (loaded through a `VarMap`).
    pub fn is_trainable(&self) -> bool {
        self.embeddings.word.is_variable()
    }

    /// The configuration the encoder was built from.
    pub fn config(&self) -> &BertConfig {
        &self.cfg
    }

    /// The device the weights live on.
    pub fn device(&self) -> &Device {
        self.embeddings.word.device()
    }

    /// The dtype of the weights and of [`EncoderOutput::hidden`].
    pub fn dtype(&self) -> DType {
        self.embeddings.word.dtype()
    }

    /// Pads word-piece sequences into a batch on the encoder's device, `(input_ids [B, T] u32,
    /// attention_mask [B, T] u32)`, after checking on the host that every id is in the
    /// vocabulary and every sequence fits the position embeddings (an id out of range would
    /// read out of bounds on the GPU).
    pub fn inputs(&self, input_ids: &[Vec<u32>]) -> candle_core::Result<(Tensor, Tensor)> {
        for (i, seq) in input_ids.iter().enumerate() {
            if let Some(&id) = seq.iter().find(|&&id| id as usize >= self.cfg.vocab_size) {
                candle_core::bail!(
                    "sequence {i}: word-piece id {id} is outside the encoder's vocabulary of {} \
                     (tokenizer and encoder do not match?)",
                    self.cfg.vocab_size
                );
            }
            if seq.len() > self.cfg.max_position_embeddings {
                candle_core::bail!(
                    "sequence {i}: {} word pieces, more than the encoder's {} positions",
                    seq.len(),
                    self.cfg.max_position_embeddings
                );
            }
        }
        pad_batch(input_ids, self.cfg.pad_token_id, self.device())
    }

    /// Runs the encoder.
    ///
    /// `input_ids`: `[B, T]` word-piece ids (u32); `attention_mask`: `[B, T]`, 1 for real
    /// pieces and 0 for padding (any numeric dtype). Token types are all 0 and positions
    /// 0..T. `train` turns dropout on (the returned attentions stay pre-dropout).
    pub fn forward(
        &self,
        input_ids: &Tensor,
        attention_mask: &Tensor,
        train: bool,
    ) -> candle_core::Result<EncoderOutput> {
        let (b, t) = input_ids.dims2()?;
        if attention_mask.dims() != [b, t] {
            candle_core::bail!(
                "attention mask has shape {:?}, input ids [{b}, {t}]",
                attention_mask.dims()
            );
        }
        if t > self.cfg.max_position_embeddings {
            candle_core::bail!(
                "sequence of {t} word pieces is longer than the encoder's {} positions",
                self.cfg.max_position_embeddings
            );
        }
        // (1 - m) · f32::MIN = m · f32::MAX + f32::MIN in one op (exactly 0 for m = 1, f32::MIN
        // for m = 0), shaped to broadcast over heads and queries: [B, 1, 1, T].
        let mask = attention_mask
            .to_dtype(DType::F32)?
            .affine(f32::MAX as f64, f32::MIN as f64)?
            .reshape((b, 1, 1, t))?;
        let x = self.embeddings.forward(input_ids, train)?;
        match self.path(Pass::Plain { tracked: x.track_op() }) {
            EncoderPath::LayerNodes => self.forward_layer_nodes(x, &mask, train),
            path => {
                let mut x = x;
                let mut attentions = Vec::with_capacity(self.layers.len());
                for layer in &self.layers {
                    let _enter = layer.span.enter();
                    let (next, probs) = match path {
                        EncoderPath::Lean => layer.forward_lean(&x, &mask)?,
                        _ => layer.forward_composed(&x, &mask, train, None)?,
                    };
                    x = next;
                    attentions.push(probs);
                }
                Ok(EncoderOutput { hidden: x, attentions: Tensor::stack(&attentions, 1)? })
            }
        }
    }

    /// [`EncoderPath::LayerNodes`] from the embeddings `x` on: a graph node a layer, and one
    /// for the stacked attentions.
    fn forward_layer_nodes(
        &self,
        mut x: Tensor,
        mask: &Tensor,
        train: bool,
    ) -> candle_core::Result<EncoderOutput> {
        let (b, t, _) = x.dims3()?;
        let mask = mask.reshape((b, t))?;
        let slot = Slot::default();
        let mut attentions = Vec::with_capacity(self.layers.len());
        for (i, layer) in self.layers.iter().enumerate() {
            let _enter = layer.span.enter();
            let params = layer.node_params()?;
            let keys = layer.dropout_keys(train);
            let (next, probs) =
                layer_node::forward(&x, &mask, &params, keys, (i, &slot), &layer.sink)?;
            x = next;
            attentions.push(probs);
        }
        let attentions = layer_node::tap_attentions(&x, attentions, &slot)?;
        Ok(EncoderOutput { hidden: x, attentions })
    }

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
        if t > self.cfg.max_position_embeddings {
            candle_core::bail!(
                "sequence of {t} word pieces is longer than the encoder's {} positions",
                self.cfg.max_position_embeddings
            );
        }
        let mask = attention_mask
            .to_dtype(DType::F32)?
            .affine(f32::MAX as f64, f32::MIN as f64)?
            .reshape((b, 1, 1, t))?;
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
        if t > self.cfg.max_position_embeddings {
            candle_core::bail!(
                "sequence of {t} word pieces is longer than the encoder's {} positions",
                self.cfg.max_position_embeddings
            );
        }
        let values = gate.to_dtype(DType::F32)?.to_vec3::<f32>()?;
        let first: Vec<usize> = values
            .iter()
            .map(|row| row.iter().position(|l| l.iter().any(|&g| g != 1.0)).unwrap_or(layers))
            .collect();
        let mask = attention_mask
            .to_dtype(DType::F32)?
            .affine(f32::MAX as f64, f32::MIN as f64)?
            .reshape((1, 1, 1, t))?;
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

/// `cpu`, `cuda:0`: where the weights live, for the log.
fn device_name(device: &Device) -> String {
    match device.location() {
        DeviceLocation::Cpu => "cpu".into(),
        DeviceLocation::Cuda { gpu_id } => format!("cuda:{gpu_id}"),
        DeviceLocation::Metal { gpu_id } => format!("metal:{gpu_id}"),
    }
}

/// Pads word-piece sequences to one batch: `(input_ids [B, T] u32, attention_mask [B, T]
/// u32)`, padding with `pad_id` and mask 0. An empty batch or an empty sequence is an error.
pub fn pad_batch(
    input_ids: &[Vec<u32>],
    pad_id: u32,
    device: &Device,
) -> candle_core::Result<(Tensor, Tensor)> {
    let t = input_ids.iter().map(Vec::len).max().unwrap_or(0);
    if t == 0 {
        candle_core::bail!("cannot encode an empty batch or empty sequences");
    }
    let b = input_ids.len();
    let mut ids = Vec::with_capacity(b * t);
    let mut mask = Vec::with_capacity(b * t);
    for seq in input_ids {
        ids.extend(seq.iter().copied().chain(std::iter::repeat(pad_id)).take(t));
        mask.extend((0..t).map(|i| u32::from(i < seq.len())));
    }
    Ok((Tensor::from_vec(ids, (b, t), device)?, Tensor::from_vec(mask, (b, t), device)?))
}

/// Encodes `input_ids` (padded into one batch on `device`, which must be the encoder's, with
/// `train = false`) and writes `input_ids` and
/// `attention_mask` (i64) and `hidden` and `attentions` (f32) to a safetensors file at
/// `path`: the dump that `scripts/parity.py --ours` compares with transformers.
pub fn dump_outputs(
    encoder: &BertEncoder,
    input_ids: &[Vec<u32>],
    device: &Device,
    path: &Path,
) -> candle_core::Result<()> {
    if !device.same_device(encoder.device()) {
        candle_core::bail!(
            "dump_outputs: inputs on {device:?} but the encoder is on {:?}",
            encoder.device()
        );
    }
    let (ids, mask) = encoder.inputs(input_ids)?;
    let out = encoder.forward(&ids, &mask, false)?;
    let cpu = Device::Cpu;
    let tensors: HashMap<String, Tensor> = [
        ("input_ids", ids.to_dtype(DType::I64)?),
        ("attention_mask", mask.to_dtype(DType::I64)?),
        ("hidden", out.hidden.to_dtype(DType::F32)?),
        ("attentions", out.attentions.to_dtype(DType::F32)?),
    ]
    .into_iter()
    .map(|(name, t)| Ok((name.to_string(), t.to_device(&cpu)?)))
    .collect::<candle_core::Result<_>>()?;
    candle_core::safetensors::save(&tensors, path)
}
