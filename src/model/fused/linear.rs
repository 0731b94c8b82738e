//! Linear layers.

use super::*;

/// `x·wᵀ + b` over the last dimension of a contiguous `x`, through the backend's matrix
/// product; with `heads`, the result is split into heads, `[B, T, n] → [B, heads, T, n/heads]`.
#[allow(clippy::too_many_arguments)]
fn linear_storage<S: BackendStorage<Device = Dev>, Dev: BackendDevice<Storage = S>>(
    x: &S,
    lx: &Layout,
    w: &S,
    lw: &Layout,
    b: &S,
    lb: &Layout,
    heads: Option<usize>,
    op: &str,
) -> Result<(S, Shape)> {
    let (n, k) = lw.shape().dims2()?;
    let dims = lx.dims();
    if dims.last() != Some(&k) || lb.shape().elem_count() != n {
        candle_core::bail!("{op}: input {dims:?}, weight {:?}, bias {:?}", lw.dims(), lb.dims());
    }
    let m = lx.shape().elem_count() / k;
    let x_layout = Layout::contiguous_with_offset((m, k), start_of(lx, op)?);
    let w_layout = Layout::contiguous_with_offset((n, k), start_of(lw, op)?).transpose(0, 1)?;
    let y = x.matmul(w, (1, m, n, k), &x_layout, &w_layout)?;
    let bias = Layout::contiguous_with_offset(n, start_of(lb, op)?).broadcast_as((m, n))?;
    let y = y.binary_impl::<candle_core::op::Add>(b, &Layout::contiguous((m, n)), &bias)?;
    let Some(heads) = heads else {
        let mut out = dims.to_vec();
        if let Some(last) = out.last_mut() {
            *last = n;
        }
        return Ok((y, Shape::from(out)));
    };
    let &[batch, t, _] = dims else {
        candle_core::bail!("{op}: heads need a [B, T, K] input, not {dims:?}");
    };
    if heads == 0 || n % heads != 0 {
        candle_core::bail!("{op}: {n} outputs do not split into {heads} heads");
    }
    let d = n / heads;
    let split = Shape::from((batch, heads, t, d));
    let source = Layout::contiguous((batch, t, heads, d)).permute(&[0, 2, 1, 3])?;
    // SAFETY: copy_strided_src writes every element of the new storage.
    let mut out = unsafe { y.device().alloc_uninit(&split, y.dtype())? };
    y.copy_strided_src(&mut out, 0, &source)?;
    Ok((out, split))
}

#[derive(Debug, Clone)]
struct Linear {
    heads: Option<usize>,
    sink: Option<WeightGrads>,
}

impl CustomOp3 for Linear {
    fn name(&self) -> &'static str {
        "spanscope-linear"
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
        linear_storage(s1, l1, s2, l2, s3, l3, self.heads, self.name())
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
        linear_storage(s1, l1, s2, l2, s3, l3, self.heads, self.name())
    }

    fn bwd(
        &self,
        x: &Tensor,
        weight: &Tensor,
        bias: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let grads = linear_grads(x, weight, grad, self.heads.is_some())?;
        node_grads(self.sink.as_ref(), (weight, bias), grads)
    }
}

/// The gradients `(dx, dw, db)` of `x·wᵀ + b` for the output gradient `grad`, computed without
/// a graph; `heads` when the output was split into heads (`[B, heads, T, n/heads]`).
pub(crate) fn linear_grads(
    x: &Tensor,
    w: &Tensor,
    grad: &Tensor,
    heads: bool,
) -> Result<(Tensor, Tensor, Tensor)> {
    let (x, w, grad) = (x.detach(), w.detach(), grad.detach());
    let (n, k) = w.dims2()?;
    let g = if heads {
        grad.transpose(1, 2)?.contiguous()?.reshape(((), n))?
    } else {
        grad.reshape(((), n))?
    };
    let dx = g.matmul(&w)?.reshape(x.shape())?;
    let dw = g.t()?.matmul(&x.reshape(((), k))?)?;
    Ok((dx, dw, column_sums(&g)?))
}

/// `x·wᵀ + b` over the last dimension as one graph node (f32; other dtypes composed). With
/// `heads`, `x` is `[B, T, K]` and the result `[B, heads, T, n/heads]`, ready for attention.
/// With `sink` collecting, the weight and bias gradients go there.
pub fn linear(
    x: &Tensor,
    w: &Tensor,
    b: &Tensor,
    heads: Option<usize>,
    sink: Option<&WeightGrads>,
) -> Result<Tensor> {
    if [x.dtype(), w.dtype(), b.dtype()].iter().all(|d| *d == DType::F32) {
        let sink = WeightGrads::for_params(sink, w, b);
        let (w, b) = (w.contiguous()?, b.contiguous()?);
        return x.contiguous()?.apply_op3(&w, &b, Linear { heads, sink });
    }
    linear_slow(x, w, b, heads)
}

/// [`linear`] composed from candle's ops: the reference the fused op is tested against, and
/// the path of other dtypes.
pub fn linear_slow(x: &Tensor, w: &Tensor, b: &Tensor, heads: Option<usize>) -> Result<Tensor> {
    let n = w.dim(0)?;
    let k = w.dim(1)?;
    let mut out = x.dims().to_vec();
    if let Some(last) = out.last_mut() {
        *last = n;
    }
    let y = x.reshape(((), k))?.matmul(&w.t()?)?.broadcast_add(b)?.reshape(out)?;
    match heads {
        None => Ok(y),
        Some(h) => {
            let (batch, t, _) = y.dims3()?;
            y.reshape((batch, t, h, n / h))?.transpose(1, 2)?.contiguous()
        }
    }
}
