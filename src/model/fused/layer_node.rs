//! A training transformer layer as one node of candle's graph.
//!
//! Built from [`super`]'s ops, a training layer is some sixteen nodes, and candle's backward
//! pass spends two more kernels and two more allocations on every input of every node (a zero
//! gradient and an add) on top of the node's own backward kernels: a large share of a layer's
//! backward pass (docs/BENCHMARKS.md, "Figures that were code comments"). Here the forward
//! pass runs the same fused ops on detached tensors and keeps what the backward pass reads; the
//! layer enters the graph as one node whose backward pass is written out by hand, handing the
//! weights' gradients to the [`WeightGrads`] collector.
//!
//! A node has one output, and a layer has two: its hidden states and its attention
//! probabilities (ASpERT's f_a reads them, so they get gradients). The probabilities of all
//! layers enter the graph as one more node, `[B, layers, heads, T, T]`, a tap on the last
//! layer's output: its backward pass runs before every layer's (they all lead to its input),
//! and it leaves the probabilities' gradient where each layer's node takes its slice, instead of
//! handing it to the graph (a per-layer stack of views would cost its own zero-and-add per
//! layer).
//!
//! The query, key and value projections are one matrix product, with one product for each of
//! their gradients.
//!
//! The arithmetic is the per-op path's (same kernels, same dropout masks from the same keys);
//! the order of some sums differs, and with it the last bits.
//!
//! Explanations use the same node with a gate ξ on each head's output as its second input
//! ([`forward_gated`]): frozen weights, no dropout, and a backward pass that computes no weight
//! gradient and, where the layer's input needs none (the first layer, when only ξ is followed),
//! stops at ∂/∂ξ. Head importance for one sentence then costs an order of magnitude fewer
//! kernels (docs/BENCHMARKS.md).

use std::sync::{Arc, Mutex};

use candle_core::backend::{BackendDevice, BackendStorage};
use candle_core::{
    CpuStorage, CustomOp1, CustomOp2, DType, Layout, Result, Shape, Storage, Tensor,
};

use crate::model::fused::{self, WeightGrads};

/// A weight and its bias, the `Var`s themselves (gradients are keyed by their ids).
pub(crate) type Params = (Tensor, Tensor);

/// The trained parameters and settings of one BERT layer with erf GELU.
#[derive(Debug, Clone)]
pub(crate) struct LayerParams {
    pub query: Params,
    pub key: Params,
    pub value: Params,
    pub attn_out: Params,
    pub attn_norm: Params,
    pub intermediate: Params,
    pub output: Params,
    pub out_norm: Params,
    pub eps: f32,
    pub heads: usize,
}

impl LayerParams {
    fn all(&self) -> [&Params; 8] {
        [
            &self.query,
            &self.key,
            &self.value,
            &self.attn_out,
            &self.attn_norm,
            &self.intermediate,
            &self.output,
            &self.out_norm,
        ]
    }

    /// Whether the layer can be one node: every parameter is a contiguous f32 `Var`. A pass
    /// takes the node only when its f32 input tracks gradients and the [`WeightGrads`] the
    /// node hands the weights' gradients to collects them (it hands them nowhere else).
    pub fn trainable_as_node(&self) -> bool {
        let own = |t: &Tensor| t.is_variable() && t.is_contiguous() && t.dtype() == DType::F32;
        self.all().iter().all(|(w, b)| own(w) && own(b))
    }
}

/// Dropout keys of the layer's three dropout sites (attention probabilities, attention output,
/// layer output), `None` where dropout is off; drawn in that order, as the per-op path does.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DropoutKeys {
    pub attention: Option<(f32, u64)>,
    pub attended: Option<(f32, u64)>,
    pub output: Option<(f32, u64)>,
}

fn dropout_at(x: &Tensor, site: Option<(f32, u64)>) -> Result<Tensor> {
    match site {
        Some((p, key)) => fused::dropout(x, p, key),
        None => Ok(x.clone()),
    }
}

/// The weights a layer node computes with, detached: the query, key and value projections as
/// one `[3H, H]` matrix, and what the scores q·kᵀ are multiplied by.
#[derive(Debug, Clone)]
pub(crate) struct NodeWeights {
    pub qkv: Params,
    pub attn_out: Params,
    pub attn_norm: Params,
    pub intermediate: Params,
    pub output: Params,
    pub out_norm: Params,
    pub eps: f32,
    pub heads: usize,
    /// 1/√d, or 1 where the query rows carry it already (inference weights).
    pub scale: f32,
}

/// What the backward pass reads, all detached.
struct Saved {
    weights: NodeWeights,
    /// The trained parameters and their collector, in training; explaining with frozen
    /// weights, `None`, and the backward pass computes no weight gradient.
    owner: Option<(LayerParams, WeightGrads)>,
    keys: DropoutKeys,
    /// The heads' gates `[B, heads]` and the ungated heads' outputs `[B, heads, T, d]`.
    gate: Option<(Tensor, Tensor)>,
    /// Whether the layer's input needs a gradient (not so for the first layer when only the
    /// gates are followed).
    x_tracks: bool,
    x: Tensor,
    q: Tensor,
    k: Tensor,
    v: Tensor,
    probs: Tensor,
    mix: Tensor,
    ctx: Tensor,
    s1: Tensor,
    h1: Tensor,
    inner: Tensor,
    activated: Tensor,
    s2: Tensor,
    /// The layer's place in the stacked attentions.
    layer: usize,
    /// The stacked attention probabilities' gradient, left by the tap's backward pass.
    attentions_grad: Slot,
}

/// Where the tap leaves the attentions' gradient for the layers' nodes.
pub(crate) type Slot = Arc<Mutex<Option<Tensor>>>;

/// The layer's graph node: forward, the final layer norm of the kept pre-norm sum.
struct LayerNode(Saved);

/// The layer with a gate on each head's output as a node of two inputs, the hidden states and
/// the gates `[B, heads]`, so that ∂/∂ξ comes out of the backward pass (explanations).
struct GatedLayerNode(Saved);

/// The stacked attention probabilities' graph node, reading the last layer's output.
struct AttentionsTap {
    probs: Vec<Tensor>,
    grad: Slot,
}

fn lock(slot: &Mutex<Option<Tensor>>) -> Result<std::sync::MutexGuard<'_, Option<Tensor>>> {
    slot.lock().map_err(|_| candle_core::Error::Msg("attention gradient lock poisoned".into()))
}

/// One training layer `layer` of an encoder: `(hidden states [B, T, H] as a graph node,
/// attention probabilities [B, heads, T, T] outside the graph)` of `x` `[B, T, H]` with the
/// additive key mask `mask` `[B, T]` (f32). Pass every layer's probabilities and the last
/// hidden states to [`tap_attentions`] with the same `slot`. The caller checks
/// [`LayerParams::fits`].
pub(crate) fn forward(
    x: &Tensor,
    mask: &Tensor,
    params: &LayerParams,
    keys: DropoutKeys,
    (layer, slot): (usize, &Slot),
    sink: &WeightGrads,
) -> Result<(Tensor, Tensor)> {
    let h = x.dim(2)?;
    let heads = params.heads;
    if heads == 0 || h % heads != 0 {
        candle_core::bail!("encoder layer: {h} features do not split into {heads} heads");
    }
    let projections = [&params.query, &params.key, &params.value];
    let detached = |(w, b): &Params| (w.detach(), b.detach());
    let weights = NodeWeights {
        qkv: (
            Tensor::cat(&projections.map(|(w, _)| w.detach()), 0)?,
            Tensor::cat(&projections.map(|(_, b)| b.detach()), 0)?,
        ),
        attn_out: detached(&params.attn_out),
        attn_norm: detached(&params.attn_norm),
        intermediate: detached(&params.intermediate),
        output: detached(&params.output),
        out_norm: detached(&params.out_norm),
        eps: params.eps,
        heads,
        scale: 1.0 / ((h / heads) as f32).sqrt(),
    };
    let owner = Some((params.clone(), sink.clone()));
    let (saved, probs) = run(x, mask, weights, owner, keys, None, (layer, slot))?;
    let hidden = x.apply_op1_arc(Arc::new(Box::new(LayerNode(saved))))?;
    Ok((hidden, probs))
}

/// An explained layer without dropout: as [`forward`], each head's output scaled by its gate
/// `gate` `[B, heads]` (f32) before the output projection, for frozen `weights`. The node
/// gives gradients to `x` (when it tracks them) and to `gate`, none to the weights.
pub(crate) fn forward_gated(
    x: &Tensor,
    gate: &Tensor,
    mask: &Tensor,
    weights: &NodeWeights,
    (layer, slot): (usize, &Slot),
) -> Result<(Tensor, Tensor)> {
    let (b, t, h) = x.dims3()?;
    let heads = weights.heads;
    if heads == 0 || h % heads != 0 || gate.dims() != [b, heads] || mask.dims() != [b, t] {
        candle_core::bail!(
            "explained encoder layer: input {:?}, gate {:?}, mask {:?} for {heads} heads",
            x.dims(),
            gate.dims(),
            mask.dims()
        );
    }
    let off = DropoutKeys { attention: None, attended: None, output: None };
    let (saved, probs) = run(x, mask, weights.clone(), None, off, Some(gate), (layer, slot))?;
    let hidden = x.apply_op2_arc(gate, Arc::new(Box::new(GatedLayerNode(saved))))?;
    Ok((hidden, probs))
}

/// The layer's forward pass on detached tensors, keeping what the backward pass reads.
fn run(
    x: &Tensor,
    mask: &Tensor,
    weights: NodeWeights,
    owner: Option<(LayerParams, WeightGrads)>,
    keys: DropoutKeys,
    gate: Option<&Tensor>,
    (layer, slot): (usize, &Slot),
) -> Result<(Saved, Tensor)> {
    let (b, t, h) = x.dims3()?;
    let w = &weights;
    let heads = w.heads;
    let d = h / heads;
    let lin = |input: &Tensor, (w, bias): &Params| fused::linear(input, w, bias, None, None);
    let norm = |input: &Tensor, (w, bias): &Params| {
        fused::layer_norm(input, w, bias, f64::from(weights.eps), None)
    };
    let xd = x.detach().contiguous()?;
    // [B, T, 3, heads, d] -> [3, B, heads, T, d]
    let qkv =
        lin(&xd, &w.qkv)?.reshape((b, t, 3, heads, d))?.permute((2, 0, 3, 1, 4))?.contiguous()?;
    let (q, k, v) = (qkv.get(0)?, qkv.get(1)?, qkv.get(2)?);
    let probs = fused::attention_probs(&q, &k, &mask.detach(), f64::from(w.scale))?;
    let mix = dropout_at(&probs, keys.attention)?;
    let mixed = mix.matmul(&v)?;
    let (mixed, gate) = match gate {
        Some(g) => {
            let g = g.detach();
            let gated = mixed.broadcast_mul(&g.reshape((b, heads, 1, 1))?)?;
            (gated, Some((g, mixed)))
        }
        None => (mixed, None),
    };
    let ctx = mixed.transpose(1, 2)?.reshape((b, t, h))?;
    let attended = dropout_at(&lin(&ctx, &w.attn_out)?, keys.attended)?;
    let s1 = (attended + &xd)?;
    let h1 = norm(&s1, &w.attn_norm)?;
    let inner = lin(&h1, &w.intermediate)?;
    let activated = fused::gelu_erf(&inner)?;
    let out = dropout_at(&lin(&activated, &w.output)?, keys.output)?;
    let s2 = (out + &h1)?;
    let saved = Saved {
        weights,
        owner,
        keys,
        gate,
        x_tracks: x.track_op(),
        x: xd,
        q,
        k,
        v,
        probs: probs.clone(),
        mix,
        ctx,
        s1,
        h1,
        inner,
        activated,
        s2,
        layer,
        attentions_grad: slot.clone(),
    };
    Ok((saved, probs))
}

/// The final layer norm of the kept pre-norm sum: the node's output.
fn finish_cpu(s: &Saved) -> Result<(CpuStorage, Shape)> {
    let (w, b) = &s.weights.out_norm;
    fused::layer_norm_cpu(&s.s2, w, b, s.weights.eps)
}

#[cfg(feature = "cuda")]
fn finish_cuda(s: &Saved) -> Result<(candle_core::CudaStorage, Shape)> {
    let (w, b) = &s.weights.out_norm;
    fused::layer_norm_cuda(&s.s2, w, b, s.weights.eps)
}

/// The layer's backward pass from the gradient of its output: `(∂/∂x, ∂/∂gate)`, the weights'
/// gradients handed to the owner's collector (none without one).
fn backward(s: &Saved, grad: &Tensor) -> Result<(Option<Tensor>, Option<Tensor>)> {
    let w = &s.weights;
    let (b, t, h) = s.x.dims3()?;
    let heads = w.heads;
    // Indices into `LayerParams::all`.
    let (query, attn_out, attn_norm, intermediate, output, out_norm) = (0, 3, 4, 5, 6, 7);
    let hand_over = |which: usize, dw: Tensor, db: Tensor| match &s.owner {
        Some((params, sink)) => {
            let (w, b) = params.all()[which];
            sink.deposit_pair((w, b), dw, db)
        }
        None => Ok(()),
    };
    let linear_back = |input: &Tensor, params: &Params, g: &Tensor, which: usize| {
        if s.owner.is_none() {
            let n = params.0.dim(0)?;
            return g.reshape(((), n))?.matmul(&params.0)?.reshape(input.shape());
        }
        let (dx, dw, db) = fused::linear_grads(input, &params.0, g, false)?;
        hand_over(which, dw, db)?;
        Ok(dx)
    };
    // out = LN(s2), s2 = dropout(output(GELU(inner))) + h1, inner = intermediate(h1)
    let (g_s2, dw, db) = fused::layer_norm_grads(&s.s2, &w.out_norm.0, grad, w.eps)?;
    hand_over(out_norm, dw, db)?;
    let g_out = dropout_at(&g_s2, s.keys.output)?;
    let g_act = linear_back(&s.activated, &w.output, &g_out, output)?;
    let g_inner = fused::gelu_grad(&s.inner, &g_act)?;
    let g_h1 = linear_back(&s.h1, &w.intermediate, &g_inner, intermediate)?;
    // h1 = LN(s1), s1 = dropout(attn_out(ctx)) + x
    let g_h1 = (g_h1 + g_s2)?;
    let (g_s1, dw, db) = fused::layer_norm_grads(&s.s1, &w.attn_norm.0, &g_h1, w.eps)?;
    hand_over(attn_norm, dw, db)?;
    let g_attended = dropout_at(&g_s1, s.keys.attended)?;
    let g_ctx = linear_back(&s.ctx, &w.attn_out, &g_attended, attn_out)?;
    // ctx = heads merged of gate · dropout(probs)·v
    let mut g_mixed = g_ctx.reshape((b, t, heads, h / heads))?.transpose(1, 2)?.contiguous()?;
    let g_gate = match &s.gate {
        Some((gate, mixed)) => {
            let g_gate = (&g_mixed * mixed)?.sum((2, 3))?;
            g_mixed = g_mixed.broadcast_mul(&gate.reshape((b, heads, 1, 1))?)?;
            Some(g_gate)
        }
        None => None,
    };
    if s.owner.is_none() && !s.x_tracks {
        return Ok((None, g_gate));
    }
    let g_mix = g_mixed.matmul(&s.v.t()?)?;
    let g_v = s.mix.t()?.matmul(&g_mixed)?;
    let mut g_probs = dropout_at(&g_mix, s.keys.attention)?;
    if let Some(all) = lock(&s.attentions_grad)?.as_ref() {
        g_probs = (g_probs + all.get_on_dim(1, s.layer)?)?;
    }
    // probs = softmax(q·kᵀ · scale + mask)
    let g_scores = fused::softmax_grad(&s.probs, &g_probs, w.scale)?;
    let g_q = g_scores.matmul(&s.k)?;
    let g_k = g_scores.t()?.matmul(&s.q)?;
    // [3, B, heads, T, d] -> [B·T, 3H], the gradient of the one projection
    let g_qkv = Tensor::stack(&[g_q, g_k, g_v], 0)?
        .permute((1, 3, 0, 2, 4))?
        .contiguous()?
        .reshape((b * t, 3 * h))?;
    let g_x = (g_s1 + g_qkv.matmul(&w.qkv.0)?.reshape((b, t, h))?)?;
    if s.owner.is_some() {
        let dw = g_qkv.t()?.matmul(&s.x.reshape((b * t, h))?)?;
        let db = fused::column_sums(&g_qkv)?;
        for i in 0..3 {
            hand_over(query + i, dw.narrow(0, i * h, h)?, db.narrow(0, i * h, h)?)?;
        }
    }
    Ok((Some(g_x), g_gate))
}

/// The layers' attention probabilities stacked, `[B, layers, heads, T, T]`, as one graph node
/// reading `last` (the last layer's hidden states); its gradient goes to `slot`.
pub(crate) fn tap_attentions(last: &Tensor, probs: Vec<Tensor>, slot: &Slot) -> Result<Tensor> {
    if probs.is_empty() {
        candle_core::bail!("no attention probabilities to stack");
    }
    last.apply_op1_arc(Arc::new(Box::new(AttentionsTap { probs, grad: slot.clone() })))
}

impl CustomOp1 for LayerNode {
    fn name(&self) -> &'static str {
        "spanscope-encoder-layer"
    }

    fn cpu_fwd(&self, _: &CpuStorage, _: &Layout) -> Result<(CpuStorage, Shape)> {
        finish_cpu(&self.0)
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        _: &candle_core::CudaStorage,
        _: &Layout,
    ) -> Result<(candle_core::CudaStorage, Shape)> {
        finish_cuda(&self.0)
    }

    fn bwd(&self, _x: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        Ok(backward(&self.0, grad)?.0)
    }
}

impl CustomOp2 for GatedLayerNode {
    fn name(&self) -> &'static str {
        "spanscope-gated-encoder-layer"
    }

    fn cpu_fwd(
        &self,
        _: &CpuStorage,
        _: &Layout,
        _: &CpuStorage,
        _: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        finish_cpu(&self.0)
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        _: &candle_core::CudaStorage,
        _: &Layout,
        _: &candle_core::CudaStorage,
        _: &Layout,
    ) -> Result<(candle_core::CudaStorage, Shape)> {
        finish_cuda(&self.0)
    }

    fn bwd(
        &self,
        _x: &Tensor,
        _gate: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        backward(&self.0, grad)
    }
}

impl AttentionsTap {
    /// `[B, layers, heads, T, T]` of the layers' `[B, heads, T, T]`, into `out` by one 2-D copy
    /// a layer.
    fn stack<S: BackendStorage>(
        &self,
        out: &mut S,
        storage: impl Fn(&Storage) -> Option<&S>,
    ) -> Result<()> {
        let dims = self.probs[0].dims().to_vec();
        let per_item: usize = dims[1..].iter().product();
        let layers = self.probs.len();
        for (l, probs) in self.probs.iter().enumerate() {
            if probs.dims() != dims.as_slice() {
                candle_core::bail!(
                    "{}: layers of shapes {:?} and {dims:?}",
                    self.name(),
                    probs.dims()
                );
            }
            let (guard, layout) = probs.storage_and_layout();
            let start = layout
                .contiguous_offsets()
                .ok_or_else(|| candle_core::Error::Msg(format!("{}: strided", self.name())))?
                .0;
            let src = storage(&guard).ok_or_else(|| {
                candle_core::Error::Msg(format!("{}: devices differ", self.name()))
            })?;
            src.copy2d(out, dims[0], per_item, per_item, layers * per_item, start, l * per_item)?;
        }
        Ok(())
    }

    fn stacked_shape(&self) -> Shape {
        let dims = self.probs[0].dims();
        let mut shape = vec![dims[0], self.probs.len()];
        shape.extend_from_slice(&dims[1..]);
        Shape::from(shape)
    }
}

impl CustomOp1 for AttentionsTap {
    fn name(&self) -> &'static str {
        "spanscope-attentions-tap"
    }

    fn cpu_fwd(&self, _: &CpuStorage, _: &Layout) -> Result<(CpuStorage, Shape)> {
        let shape = self.stacked_shape();
        // SAFETY: `stack` writes every element (each layer's block of each item).
        let mut out = unsafe {
            candle_core::cpu_backend::CpuDevice.alloc_uninit(&shape, self.probs[0].dtype())?
        };
        self.stack(&mut out, fused::cpu_storage)?;
        Ok((out, shape))
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        s: &candle_core::CudaStorage,
        _: &Layout,
    ) -> Result<(candle_core::CudaStorage, Shape)> {
        let shape = self.stacked_shape();
        // SAFETY: as on the CPU.
        let mut out = unsafe { s.device().alloc_uninit(&shape, self.probs[0].dtype())? };
        self.stack(&mut out, fused::gpu::cuda_storage)?;
        Ok((out, shape))
    }

    fn bwd(&self, _arg: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        let mut slot = lock(&self.grad)?;
        let grad = grad.detach();
        *slot = Some(match slot.take() {
            Some(earlier) => (earlier + grad)?,
            None => grad,
        });
        // The layers' nodes take it from here; nothing for the graph.
        Ok(None)
    }
}
