//! Attention probabilities and the gradient of a softmax.

use super::*;

/// (y, dy) → dx = scale · y · (dy − Σ dy·y), row by row: the gradient of softmax(scale · x).
struct SoftmaxBwd {
    scale: f32,
}

impl CustomOp2 for SoftmaxBwd {
    fn name(&self) -> &'static str {
        "spanscope-softmax-bwd"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        same_shape(l1, l2, self.name())?;
        let (y, dy) =
            (contiguous::<f32>(s1, l1, self.name())?, contiguous::<f32>(s2, l2, self.name())?);
        let (_, cols) = rows_cols(l1)?;
        let mut dx = Vec::with_capacity(y.len());
        for (yr, gr) in y.chunks(cols).zip(dy.chunks(cols)) {
            let dot: f32 = yr.iter().zip(gr).map(|(a, b)| a * b).sum();
            dx.extend(yr.iter().zip(gr).map(|(a, b)| self.scale * a * (b - dot)));
        }
        Ok((CpuStorage::F32(dx), l1.shape().clone()))
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        s1: &candle_core::CudaStorage,
        l1: &Layout,
        s2: &candle_core::CudaStorage,
        l2: &Layout,
    ) -> Result<(candle_core::CudaStorage, Shape)> {
        same_shape(l1, l2, self.name())?;
        let dev = s1.device().clone();
        let (y, dy) =
            (gpu::view::<f32>(s1, l1, self.name())?, gpu::view::<f32>(s2, l2, self.name())?);
        let (rows, cols) = gpu::rows_cols(l1, self.name())?;
        let dx = gpu::alloc(&dev, y.len())?;
        // SAFETY: three buffers of rows · cols elements.
        launch!(dev, "softmax_bwd_f32", gpu::rows(rows), &y, &dy, &dx, &rows, &cols, &self.scale);
        Ok((candle_core::CudaStorage::wrap_cuda_slice(dx, dev), l1.shape().clone()))
    }
}

/// Raw scores `q·kᵀ`, `[B·heads, T, T]`, of contiguous `[B, heads, T, d]` queries and keys.
fn scores_storage<S: BackendStorage>(
    q: &S,
    lq: &Layout,
    k: &S,
    lk: &Layout,
    op: &str,
) -> Result<(S, (usize, usize, usize))> {
    let (batch, heads, t, d) = lq.shape().dims4()?;
    if lk.dims() != lq.dims() {
        candle_core::bail!("{op}: queries {:?}, keys {:?}", lq.dims(), lk.dims());
    }
    let bh = batch * heads;
    let q_layout = Layout::contiguous_with_offset((bh, t, d), start_of(lq, op)?);
    let k_layout = Layout::contiguous_with_offset((bh, t, d), start_of(lk, op)?).transpose(1, 2)?;
    Ok((q.matmul(k, (bh, t, t, d), &q_layout, &k_layout)?, (batch, heads, t)))
}

/// softmax(q·kᵀ · scale + mask) with `mask` `[B, T]` additive over keys.
#[derive(Debug, Clone, Copy)]
struct AttentionProbs {
    scale: f32,
}

impl CustomOp3 for AttentionProbs {
    fn name(&self) -> &'static str {
        "spanscope-attention-probs"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (scores, (batch, heads, t)) = scores_storage(s1, l1, s2, l2, self.name())?;
        let mask = contiguous::<f32>(s3, l3, self.name())?;
        if mask.len() != batch * t {
            candle_core::bail!("{}: mask of {} for {batch} x {t} keys", self.name(), mask.len());
        }
        let CpuStorage::F32(mut y) = scores else {
            candle_core::bail!("{}: f32 tensors only", self.name());
        };
        for (r, row) in y.chunks_mut(t).enumerate() {
            let m = &mask[(r / (heads * t)) * t..][..t];
            let mut max = f32::NEG_INFINITY;
            for (v, m) in row.iter_mut().zip(m) {
                *v = *v * self.scale + m;
                max = max.max(*v);
            }
            let mut total = 0f32;
            for v in row.iter_mut() {
                *v = (*v - max).exp();
                total += *v;
            }
            row.iter_mut().for_each(|v| *v /= total);
        }
        Ok((CpuStorage::F32(y), Shape::from((batch, heads, t, t))))
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        s1: &candle_core::CudaStorage,
        l1: &Layout,
        s2: &candle_core::CudaStorage,
        l2: &Layout,
        s3: &candle_core::CudaStorage,
        l3: &Layout,
    ) -> Result<(candle_core::CudaStorage, Shape)> {
        let (mut scores, (batch, heads, t)) = scores_storage(s1, l1, s2, l2, self.name())?;
        let mask = gpu::view::<f32>(s3, l3, self.name())?;
        if mask.len() != batch * t {
            candle_core::bail!("{}: mask of {} for {batch} x {t} keys", self.name(), mask.len());
        }
        let dev = scores.device().clone();
        let rows = count_u32(batch * heads * t, self.name())?;
        let (cols, per_item) = (count_u32(t, self.name())?, count_u32(heads * t, self.name())?);
        {
            let s = scores.as_cuda_slice_mut::<f32>()?;
            // SAFETY: scores has rows · cols elements, mask batch · cols (checked above).
            launch!(
                dev,
                "scaled_masked_softmax_f32",
                gpu::rows(rows),
                s,
                &mask,
                &rows,
                &cols,
                &per_item,
                &self.scale,
            );
        }
        Ok((scores, Shape::from((batch, heads, t, t))))
    }

    fn bwd(
        &self,
        q: &Tensor,
        k: &Tensor,
        _mask: &Tensor,
        res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let (q, k) = (q.detach(), k.detach());
        let scores_grad = softmax_grad(res, grad, self.scale)?;
        let dq = scores_grad.matmul(&k)?;
        let dk = scores_grad.transpose(2, 3)?.matmul(&q)?;
        Ok((Some(dq), Some(dk), None))
    }
}

/// The gradient of `softmax(scale · x)` over the last dimension, from its f32 output `y` and
/// the output gradient `dy`, computed without a graph.
pub(crate) fn softmax_grad(y: &Tensor, dy: &Tensor, scale: f32) -> Result<Tensor> {
    y.detach().contiguous()?.apply_op2_no_bwd(&dy.detach().contiguous()?, &SoftmaxBwd { scale })
}

/// Attention probabilities `softmax(q·kᵀ · scale + mask)` as one graph node, `[B, heads, T,
/// T]` in f32 whatever the inputs' dtype, from queries and keys `[B, heads, T, d]` and an
/// additive key mask `[B, T]` (f32 inputs fused; other dtypes composed). The mask gets no
/// gradient.
pub fn attention_probs(q: &Tensor, k: &Tensor, mask: &Tensor, scale: f64) -> Result<Tensor> {
    if [q.dtype(), k.dtype(), mask.dtype()].iter().all(|d| *d == DType::F32) {
        let op = AttentionProbs { scale: scale as f32 };
        return q.contiguous()?.apply_op3(&k.contiguous()?, &mask.contiguous()?, op);
    }
    attention_probs_slow(q, k, mask, scale)
}

/// [`attention_probs`] composed from candle's ops (a product, a broadcast add, candle's
/// softmax): the reference the fused op is tested against, and the path of other dtypes.
pub fn attention_probs_slow(q: &Tensor, k: &Tensor, mask: &Tensor, scale: f64) -> Result<Tensor> {
    let (batch, t) = mask.dims2()?;
    let scores = (q.matmul(&k.t()?)? * scale)?.to_dtype(DType::F32)?;
    let scores = scores.broadcast_add(&mask.to_dtype(DType::F32)?.reshape((batch, 1, 1, t))?)?;
    candle_nn::ops::softmax(&scores, D::Minus1)
}
