//! A training transformer layer as one node of candle's graph.
//!
//! Built from [`super::fused`]'s ops, a training layer is about 16 nodes, and candle's backward
//! pass spends two more kernels and two more allocations on every input of every node (a zero
//! gradient and an add) on top of the node's own backward kernels: 64 kernels a layer's
//! backward pass, a third of them those adds, measured with Nsight Compute on the GPU machine
//! (docs/BENCHMARKS.md). Here the forward pass runs the same fused ops on detached tensors and
//! keeps what the backward pass reads; the layer enters the graph as one node whose backward
//! pass is written out by hand, handing the weights' gradients to the [`WeightGrads`] collector.
//!
//! A node has one output, and a layer has two: its hidden states and its attention
//! probabilities (ASpERT's f_a reads them, so they get gradients). The probabilities enter the
//! graph as a second node, a tap on the layer's output: the tap's backward pass runs before the
//! layer's (it is a consumer of the layer's output) and hands the probabilities' gradient to
//! the layer's node instead of to the graph.
//!
//! The arithmetic is the per-op path's, op for op (same kernels, same dropout masks from the
//! same keys); only the order in which gradients are summed differs.

use std::sync::{Arc, Mutex};

use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, CustomOp1, DType, Layout, Result, Shape, Storage, Tensor};

use super::fused::{self, WeightGrads};

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

    /// Whether the layer can be one node for input `x`: `x` tracks gradients, everything is f32,
    /// and every parameter is a contiguous `Var` whose gradient `sink` collects (this node hands
    /// weight gradients nowhere else).
    pub fn fits(&self, x: &Tensor, sink: &WeightGrads) -> bool {
        let own = |t: &Tensor| t.is_variable() && t.is_contiguous() && t.dtype() == DType::F32;
        sink.is_collecting()
            && x.track_op()
            && x.dtype() == DType::F32
            && self.all().iter().all(|(w, b)| own(w) && own(b))
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

fn drop(x: &Tensor, site: Option<(f32, u64)>) -> Result<Tensor> {
    match site {
        Some((p, key)) => fused::dropout(x, p, key),
        None => Ok(x.clone()),
    }
}

/// What the backward pass reads, all detached.
struct Saved {
    params: LayerParams,
    keys: DropoutKeys,
    scale: f32,
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
    /// The attention probabilities' gradient, left here by the tap's backward pass.
    probs_grad: Arc<Mutex<Option<Tensor>>>,
    sink: WeightGrads,
}

/// The layer's graph node: forward, the final layer norm of the kept pre-norm sum.
struct LayerNode(Saved);

/// The attention probabilities' graph node, reading the layer node's output.
struct ProbsTap {
    probs: Tensor,
    grad: Arc<Mutex<Option<Tensor>>>,
}

fn lock(slot: &Mutex<Option<Tensor>>) -> Result<std::sync::MutexGuard<'_, Option<Tensor>>> {
    slot.lock().map_err(|_| candle_core::Error::Msg("attention gradient lock poisoned".into()))
}

/// One training layer: `(hidden states [B, T, H], attention probabilities [B, heads, T, T])`
/// of `x` `[B, T, H]` with the additive key mask `mask` `[B, T]` (f32), as two graph nodes.
/// The caller checks [`LayerParams::fits`].
pub(crate) fn forward(
    x: &Tensor,
    mask: &Tensor,
    params: &LayerParams,
    keys: DropoutKeys,
    sink: &WeightGrads,
) -> Result<(Tensor, Tensor)> {
    let (b, t, h) = x.dims3()?;
    let heads = params.heads;
    if heads == 0 || h % heads != 0 {
        candle_core::bail!("encoder layer: {h} features do not split into {heads} heads");
    }
    let scale = 1.0 / ((h / heads) as f32).sqrt();
    let lin = |input: &Tensor, (w, bias): &Params, split: Option<usize>| {
        fused::linear(input, &w.detach(), &bias.detach(), split, None)
    };
    let norm = |input: &Tensor, (w, bias): &Params| {
        fused::layer_norm(input, &w.detach(), &bias.detach(), f64::from(params.eps), None)
    };
    let xd = x.detach().contiguous()?;
    let q = lin(&xd, &params.query, Some(heads))?;
    let k = lin(&xd, &params.key, Some(heads))?;
    let v = lin(&xd, &params.value, Some(heads))?;
    let probs = fused::attention_probs(&q, &k, &mask.detach(), f64::from(scale))?;
    let mix = drop(&probs, keys.attention)?;
    let ctx = mix.matmul(&v)?.transpose(1, 2)?.reshape((b, t, h))?;
    let attended = drop(&lin(&ctx, &params.attn_out, None)?, keys.attended)?;
    let s1 = (attended + &xd)?;
    let h1 = norm(&s1, &params.attn_norm)?;
    let inner = lin(&h1, &params.intermediate, None)?;
    let activated = fused::gelu_erf(&inner)?;
    let out = drop(&lin(&activated, &params.output, None)?, keys.output)?;
    let s2 = (out + &h1)?;
    let probs_grad = Arc::new(Mutex::new(None));
    let saved = Saved {
        params: params.clone(),
        keys,
        scale,
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
        probs_grad: probs_grad.clone(),
        sink: sink.clone(),
    };
    let hidden = x.apply_op1_arc(Arc::new(Box::new(LayerNode(saved))))?;
    let probs = hidden.apply_op1_arc(Arc::new(Box::new(ProbsTap { probs, grad: probs_grad })))?;
    Ok((hidden, probs))
}

impl CustomOp1 for LayerNode {
    fn name(&self) -> &'static str {
        "spanscope-encoder-layer"
    }

    fn cpu_fwd(&self, _: &CpuStorage, _: &Layout) -> Result<(CpuStorage, Shape)> {
        let s = &self.0;
        let (w, b) = &s.params.out_norm;
        fused::layer_norm_cpu(&s.s2, w, b, s.params.eps)
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        _: &candle_core::CudaStorage,
        _: &Layout,
    ) -> Result<(candle_core::CudaStorage, Shape)> {
        let s = &self.0;
        let (w, b) = &s.params.out_norm;
        fused::layer_norm_cuda(&s.s2, w, b, s.params.eps)
    }

    fn bwd(&self, _x: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        let s = &self.0;
        let p = &s.params;
        let (b, t, h) = s.x.dims3()?;
        let heads = p.heads;
        let sink = &s.sink;
        let hand_over = |(w, bias): &Params, dw: Tensor, db: Tensor| -> Result<()> {
            sink.deposit(w, dw)?;
            sink.deposit(bias, db)
        };
        // out = LN(s2), s2 = dropout(output(GELU(inner))) + h1, inner = intermediate(h1)
        let (g_s2, dw, db) = fused::layer_norm_grads(&s.s2, &p.out_norm.0, grad, p.eps)?;
        hand_over(&p.out_norm, dw, db)?;
        let g_out = drop(&g_s2, s.keys.output)?;
        let (g_act, dw, db) = fused::linear_grads(&s.activated, &p.output.0, &g_out, false)?;
        hand_over(&p.output, dw, db)?;
        let g_inner = fused::gelu_grad(&s.inner, &g_act)?;
        let (g_h1, dw, db) = fused::linear_grads(&s.h1, &p.intermediate.0, &g_inner, false)?;
        hand_over(&p.intermediate, dw, db)?;
        // h1 = LN(s1), s1 = dropout(attn_out(ctx)) + x
        let g_h1 = (g_h1 + g_s2)?;
        let (g_s1, dw, db) = fused::layer_norm_grads(&s.s1, &p.attn_norm.0, &g_h1, p.eps)?;
        hand_over(&p.attn_norm, dw, db)?;
        let g_attended = drop(&g_s1, s.keys.attended)?;
        let (g_ctx, dw, db) = fused::linear_grads(&s.ctx, &p.attn_out.0, &g_attended, false)?;
        hand_over(&p.attn_out, dw, db)?;
        // ctx = heads merged of dropout(probs)·v
        let g_mixed = g_ctx.reshape((b, t, heads, h / heads))?.transpose(1, 2)?.contiguous()?;
        let g_mix = g_mixed.matmul(&s.v.t()?)?;
        let g_v = s.mix.t()?.matmul(&g_mixed)?;
        let mut g_probs = drop(&g_mix, s.keys.attention)?;
        if let Some(tapped) = lock(&s.probs_grad)?.take() {
            g_probs = (g_probs + tapped)?;
        }
        // probs = softmax(q·kᵀ · scale + mask)
        let g_scores = fused::softmax_grad(&s.probs, &g_probs, s.scale)?;
        let g_q = g_scores.matmul(&s.k)?;
        let g_k = g_scores.t()?.matmul(&s.q)?;
        let mut g_x = g_s1;
        for (g, params) in [(g_q, &p.query), (g_k, &p.key), (g_v, &p.value)] {
            let (dx, dw, db) = fused::linear_grads(&s.x, &params.0, &g, true)?;
            hand_over(params, dw, db)?;
            g_x = (g_x + dx)?;
        }
        Ok(Some(g_x))
    }
}

impl CustomOp1 for ProbsTap {
    fn name(&self) -> &'static str {
        "spanscope-attention-tap"
    }

    fn cpu_fwd(&self, _: &CpuStorage, _: &Layout) -> Result<(CpuStorage, Shape)> {
        let (storage, layout) = self.probs.storage_and_layout();
        match &*storage {
            Storage::Cpu(s) => Ok((s.try_clone(layout)?, layout.shape().clone())),
            _ => candle_core::bail!("{}: probabilities not on the CPU", self.name()),
        }
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        _: &candle_core::CudaStorage,
        _: &Layout,
    ) -> Result<(candle_core::CudaStorage, Shape)> {
        let (storage, layout) = self.probs.storage_and_layout();
        match &*storage {
            Storage::Cuda(s) => Ok((s.try_clone(layout)?, layout.shape().clone())),
            _ => candle_core::bail!("{}: probabilities not on the GPU", self.name()),
        }
    }

    fn bwd(&self, _arg: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        let mut slot = lock(&self.grad)?;
        let grad = grad.detach();
        *slot = Some(match slot.take() {
            Some(earlier) => (earlier + grad)?,
            None => grad,
        });
        // The layer's node takes it from here; nothing for the graph.
        Ok(None)
    }
}
