//! Layer norm.

use super::*;

#[derive(Debug, Clone)]
struct LayerNorm {
    eps: f32,
    sink: Option<WeightGrads>,
}

/// Mean and 1/√(var + ε) of one row, as fused.cu computes them.
pub(super) fn row_stats(row: &[f32], eps: f32) -> (f32, f32) {
    let n = row.len() as f32;
    let mean = row.iter().sum::<f32>() / n;
    let var = row.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / n;
    (mean, 1.0 / (var + eps).sqrt())
}

pub(super) fn check_params(x: &Layout, w: &Layout, b: Option<&Layout>, op: &str) -> Result<()> {
    let cols = rows_cols(x)?.1;
    if w.shape().elem_count() != cols || b.is_some_and(|b| b.shape().elem_count() != cols) {
        candle_core::bail!("{op}: {cols} features but parameters of shape {:?}", w.dims());
    }
    Ok(())
}

impl CustomOp3 for LayerNorm {
    fn name(&self) -> &'static str {
        "spanscope-layer-norm"
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
        check_params(l1, l2, Some(l3), self.name())?;
        let x = contiguous::<f32>(s1, l1, self.name())?;
        let (w, b) =
            (contiguous::<f32>(s2, l2, self.name())?, contiguous::<f32>(s3, l3, self.name())?);
        let (_, cols) = rows_cols(l1)?;
        let mut y = Vec::with_capacity(x.len());
        for row in x.chunks(cols) {
            let (mean, rstd) = row_stats(row, self.eps);
            y.extend(row.iter().zip(w).zip(b).map(|((v, w), b)| (v - mean) * rstd * w + b));
        }
        Ok((CpuStorage::F32(y), l1.shape().clone()))
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
        check_params(l1, l2, Some(l3), self.name())?;
        let dev = s1.device().clone();
        let x = gpu::view::<f32>(s1, l1, self.name())?;
        let (w, b) =
            (gpu::view::<f32>(s2, l2, self.name())?, gpu::view::<f32>(s3, l3, self.name())?);
        let (rows, cols) = gpu::rows_cols(l1, self.name())?;
        let y = gpu::alloc(&dev, x.len())?;
        // SAFETY: x and y of rows · cols elements, w and b of cols (checked above).
        launch!(dev, "layer_norm_f32", gpu::rows(rows), &x, &w, &b, &y, &rows, &cols, &self.eps);
        Ok((candle_core::CudaStorage::wrap_cuda_slice(y, dev), l1.shape().clone()))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        b: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        node_grads(self.sink.as_ref(), (w, b), layer_norm_grads(x, w, grad, self.eps)?)
    }
}

/// The f32 layer norm of `x` with `w` and `b` straight into CPU storage, for a node whose
/// forward pass ends with one.
pub(crate) fn layer_norm_cpu(
    x: &Tensor,
    w: &Tensor,
    b: &Tensor,
    eps: f32,
) -> Result<(CpuStorage, Shape)> {
    let op = LayerNorm { eps, sink: None };
    with_storages([x, w, b], op.name(), cpu_storage, |[(sx, lx), (sw, lw), (sb, lb)]| {
        op.cpu_fwd(sx, lx, sw, lw, sb, lb)
    })
}

/// [`layer_norm_cpu`] on the GPU.
#[cfg(feature = "cuda")]
pub(crate) fn layer_norm_cuda(
    x: &Tensor,
    w: &Tensor,
    b: &Tensor,
    eps: f32,
) -> Result<(candle_core::CudaStorage, Shape)> {
    let op = LayerNorm { eps, sink: None };
    with_storages([x, w, b], op.name(), gpu::cuda_storage, |[(sx, lx), (sw, lw), (sb, lb)]| {
        op.cuda_fwd(sx, lx, sw, lw, sb, lb)
    })
}

/// The gradients `(dx, dw, db)` of an f32 layer norm of `x` with weight `w` (and any bias) for
/// the output gradient `dy`, computed without a graph.
pub(crate) fn layer_norm_grads(
    x: &Tensor,
    w: &Tensor,
    dy: &Tensor,
    eps: f32,
) -> Result<(Tensor, Tensor, Tensor)> {
    let dy = dy.detach().contiguous()?;
    let both = x.detach().apply_op3_no_bwd(&w.detach(), &dy, &LayerNormBwd { eps })?;
    let cols = w.elem_count();
    let dw = column_sums(&both.get(1)?.reshape(((), cols))?)?.reshape(w.shape())?;
    let db = column_sums(&dy.reshape(((), cols))?)?.reshape(w.shape())?;
    Ok((both.get(0)?, dw, db))
}

/// (x, w, dy) → `[2, ..x]`: dx, then dy·x̂ for the weight's gradient.
struct LayerNormBwd {
    eps: f32,
}

impl CustomOp3 for LayerNormBwd {
    fn name(&self) -> &'static str {
        "spanscope-layer-norm-bwd"
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
        check_params(l1, l2, None, self.name())?;
        same_shape(l1, l3, self.name())?;
        let x = contiguous::<f32>(s1, l1, self.name())?;
        let (w, dy) =
            (contiguous::<f32>(s2, l2, self.name())?, contiguous::<f32>(s3, l3, self.name())?);
        let (_, cols) = rows_cols(l1)?;
        let n = cols as f32;
        let mut out = vec![0f32; 2 * x.len()];
        let (dx, dxw) = out.split_at_mut(x.len());
        for (r, (row, g)) in x.chunks(cols).zip(dy.chunks(cols)).enumerate() {
            let (mean, rstd) = row_stats(row, self.eps);
            let (mut a, mut c) = (0f32, 0f32);
            for ((v, g), w) in row.iter().zip(g).zip(w) {
                a += g * w;
                c += g * w * (v - mean) * rstd;
            }
            let (a, c) = (a / n, c / n);
            let span = r * cols..(r + 1) * cols;
            for (((v, g), w), (dx, dxw)) in
                row.iter().zip(g).zip(w).zip(dx[span.clone()].iter_mut().zip(&mut dxw[span]))
            {
                let xhat = (v - mean) * rstd;
                *dx = rstd * (g * w - a - xhat * c);
                *dxw = g * xhat;
            }
        }
        let mut dims = vec![2];
        dims.extend_from_slice(l1.dims());
        Ok((CpuStorage::F32(out), Shape::from(dims)))
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
        check_params(l1, l2, None, self.name())?;
        same_shape(l1, l3, self.name())?;
        let dev = s1.device().clone();
        let x = gpu::view::<f32>(s1, l1, self.name())?;
        let (w, dy) =
            (gpu::view::<f32>(s2, l2, self.name())?, gpu::view::<f32>(s3, l3, self.name())?);
        let (rows, cols) = gpu::rows_cols(l1, self.name())?;
        let out = gpu::alloc(&dev, 2 * x.len())?;
        // SAFETY: x and dy of rows · cols elements, w of cols, out of twice rows · cols.
        launch!(
            dev,
            "layer_norm_bwd_f32",
            gpu::rows(rows),
            &x,
            &w,
            &dy,
            &out,
            &rows,
            &cols,
            &self.eps,
        );
        let mut dims = vec![2];
        dims.extend_from_slice(l1.dims());
        Ok((candle_core::CudaStorage::wrap_cuda_slice(out, dev), Shape::from(dims)))
    }
}

/// Layer norm over the last dimension with weight and bias; f32 through the fused kernels,
/// other dtypes composed from candle's ops. With `sink` collecting, the weight and bias
/// gradients go there.
pub fn layer_norm(
    x: &Tensor,
    w: &Tensor,
    b: &Tensor,
    eps: f64,
    sink: Option<&WeightGrads>,
) -> Result<Tensor> {
    if x.dtype() == DType::F32 && w.dtype() == DType::F32 && b.dtype() == DType::F32 {
        let sink = WeightGrads::for_params(sink, w, b);
        let (w, b) = (w.contiguous()?, b.contiguous()?);
        return x.contiguous()?.apply_op3(&w, &b, LayerNorm { eps: eps as f32, sink });
    }
    layer_norm_slow(x, w, b, eps)
}

/// [`layer_norm`] composed from candle's ops: the reference the fused op is tested against,
/// and the path of other dtypes.
pub fn layer_norm_slow(x: &Tensor, w: &Tensor, b: &Tensor, eps: f64) -> Result<Tensor> {
    let mean = x.mean_keepdim(D::Minus1)?;
    let centred = x.broadcast_sub(&mean)?;
    let var = centred.sqr()?.mean_keepdim(D::Minus1)?;
    centred.broadcast_div(&(var + eps)?.sqrt()?)?.broadcast_mul(w)?.broadcast_add(b)
}

/// The sum of the rows of a `[rows, cols]` matrix, `[cols]` (bias and layer-norm weight
/// gradients). On the CPU as a product with a row of ones: candle's CPU sum over the first
/// dimension walks the matrix column by column, far slower than the product for the shapes of
/// a training step (docs/BENCHMARKS.md, "Figures that were code comments").
pub(crate) fn column_sums(m: &Tensor) -> Result<Tensor> {
    if m.device().is_cpu() {
        Tensor::ones((1, m.dim(0)?), m.dtype(), m.device())?.matmul(m)?.squeeze(0)
    } else {
        m.sum(0)
    }
}
