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
//! - [`Lean`](EncoderPath::Lean), taken by `forward` with frozen f32 weights and erf GELU;
//!   proved by `tests/model/encoder_reference.rs` `matches_plain_reference_on_padded_batch`,
//!   `tests/model/encoder_parity.rs` `matches_transformers_on_tiny_bert` and `tests/cuda.rs`
//!   `encoder_matches_transformers_on_cuda`.
//! - [`Packed`](EncoderPath::Packed), taken by `forward_packed` (sentences laid end to end,
//!   no padding) with `Lean`'s weights on the CPU; proved by `tests/model/packed.rs`
//!   `packed_pass_matches_the_padded_batch` and
//!   `packed_batches_make_the_padded_batches_predictions`.
//! - [`FusedQkv`](EncoderPath::FusedQkv), taken by `forward` with frozen f16 or bf16 weights,
//!   or another activation; proved by `tests/model/encoder_reference.rs`
//!   `other_activations_match_the_plain_reference` and `half_precision_is_close_to_f32`.
//! - [`SeparateQkv`](EncoderPath::SeparateQkv), taken by `forward` with trainable weights;
//!   proved by `tests/model/encoder_reference.rs`
//!   `trainable_path_matches_inference_path_and_has_gradients`.
//! - [`LayerNodes`](EncoderPath::LayerNodes), taken by `forward` with trainable f32 weights
//!   and erf GELU when the input tracks gradients and [`WeightGrads`] collects; proved by
//!   `tests/model/encoder_reference.rs` `layers_trained_as_one_graph_node_match_the_per_op_graph`.
//! - [`Gated`](EncoderPath::Gated), taken by `forward_gated` and `forward_explained` when no
//!   gradient is wanted, `forward_gated_shared` and `forward_explained_composed`; proved by
//!   `tests/explain/heads.rs` `masking_nothing_reproduces_the_prediction`,
//!   `masking_a_head_equals_zeroing_its_output_projection_columns` and
//!   `rows_sharing_their_unmasked_layers_equal_separate_rows`.
//! - [`GatedNodes`](EncoderPath::GatedNodes), taken by `forward_explained` (and
//!   `forward_gated`) when ξ or the word scale tracks gradients, with f32 weights and erf GELU;
//!   proved by `tests/explain/prediction.rs` `the_layer_nodes_give_the_composed_gradients`.
//! - A CUDA graph around `Lean` or `FusedQkv`, taken by
//!   [`Aspert::encode`](super::aspert::Aspert::encode) of an inference copy on a GPU for a
//!   batch shape seen before ([`super::graphs`]); proved by `tests/cuda.rs`
//!   `encoder_graphs_replay_the_direct_pass_exactly`.
//!
//! The layers and their passes are in `layers.rs`, the packed pass in `packed.rs`, the
//! explanation passes in `explained.rs`.
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

use candle_core::{DType, Device, DeviceLocation, Tensor};
use candle_nn::VarBuilder;

use super::config::BertConfig;
use super::fused::layer_node::{self, Slot};
use super::fused::{DropoutStream, WeightGrads};

mod explained;
mod layers;
mod packed;

pub(crate) use layers::dense;
use layers::{Embeddings, Layer, Qkv};
pub use packed::{PackedOutput, PackedRun};

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
    /// `Lean`'s layers on the CPU over sentences laid end to end: the dense products over
    /// `[total pieces, hidden]` rows, attention per run of equal-length sentences, no padding.
    Packed,
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
            Self::Packed => "packed lean inference",
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
    /// Whether [`BertEncoder::forward_packed`] may run (`Packed`): `Lean` on the CPU.
    packed: bool,
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
            packed: plain == EncoderPath::Lean && embeddings.word.device().is_cpu(),
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
            "encoder: {} layers x {} heads, {} on {}, path: {}{}",
            cfg.num_hidden_layers,
            cfg.num_attention_heads,
            encoder.dtype().as_str(),
            device_name(encoder.device()),
            encoder.paths.plain,
            if encoder.paths.packed { " (predictions: packed lean inference)" } else { "" }
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
        self.check_ids(input_ids)?;
        pad_batch(input_ids, self.cfg.pad_token_id, self.device())
    }

    /// Refuses a sequence with an id outside the vocabulary or more pieces than positions.
    fn check_ids<S: AsRef<[u32]>>(&self, input_ids: &[S]) -> candle_core::Result<()> {
        for (i, seq) in input_ids.iter().map(AsRef::as_ref).enumerate() {
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
        Ok(())
    }

    /// Refuses a sequence of `t` pieces longer than the position embeddings.
    fn check_length(&self, t: usize) -> candle_core::Result<()> {
        if t > self.cfg.max_position_embeddings {
            candle_core::bail!(
                "sequence of {t} word pieces is longer than the encoder's {} positions",
                self.cfg.max_position_embeddings
            );
        }
        Ok(())
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
        self.check_length(t)?;
        let mask = additive_mask(attention_mask, (b, t))?;
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
}

/// The attention mask `[B, T]` as what is added to the attention logits, `[B, 1, 1, T]` to
/// broadcast over heads and queries: (1 - m) · f32::MIN = m · f32::MAX + f32::MIN in one op,
/// exactly 0 for a real piece and f32::MIN for padding.
fn additive_mask(attention_mask: &Tensor, (b, t): (usize, usize)) -> candle_core::Result<Tensor> {
    attention_mask
        .to_dtype(DType::F32)?
        .affine(f32::MAX as f64, f32::MIN as f64)?
        .reshape((b, 1, 1, t))
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
