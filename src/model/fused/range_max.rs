//! Max over ranges of positions.

use super::*;

/// Shapes of a range-max: `(batch, len, dim)` of x and the ranges an item.
fn range_dims(lx: &Layout, lb: &Layout, n: usize, op: &str) -> Result<(usize, usize, usize)> {
    let (batch, len, dim) = lx.shape().dims3()?;
    if lb.shape().elem_count() != 2 * batch * n {
        candle_core::bail!("{op}: {} bounds for {batch} x {n} ranges", lb.shape().elem_count());
    }
    Ok((batch, len, dim))
}

/// The first position of the maximum of column `d` over `[s, e)` of one item's `[len, dim]`.
fn first_max(x: &[f32], dim: usize, d: usize, s: usize, e: usize) -> (usize, f32) {
    let mut best = (s, x[s * dim + d]);
    for t in s + 1..e {
        let v = x[t * dim + d];
        if v > best.1 {
            best = (t, v);
        }
    }
    best
}

#[derive(Debug, Clone, Copy)]
struct RangeMax {
    /// Ranges an item.
    n: usize,
}

impl CustomOp2 for RangeMax {
    fn name(&self) -> &'static str {
        "spanscope-range-max"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (batch, len, dim) = range_dims(l1, l2, self.n, self.name())?;
        let (x, bounds) =
            (contiguous::<f32>(s1, l1, self.name())?, contiguous::<u32>(s2, l2, self.name())?);
        let mut y = vec![0f32; batch * self.n * dim];
        for (r, out) in y.chunks_mut(dim).enumerate() {
            let (s, e) = (bounds[2 * r] as usize, bounds[2 * r + 1] as usize);
            let item = &x[(r / self.n) * len * dim..][..len * dim];
            if s < e {
                for (d, o) in out.iter_mut().enumerate() {
                    *o = first_max(item, dim, d, s, e).1;
                }
            }
        }
        Ok((CpuStorage::F32(y), Shape::from((batch, self.n, dim))))
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        s1: &candle_core::CudaStorage,
        l1: &Layout,
        s2: &candle_core::CudaStorage,
        l2: &Layout,
    ) -> Result<(candle_core::CudaStorage, Shape)> {
        let (batch, len, dim) = range_dims(l1, l2, self.n, self.name())?;
        let dev = s1.device().clone();
        let x = gpu::view::<f32>(s1, l1, self.name())?;
        let bounds = gpu::view::<u32>(s2, l2, self.name())?;
        let total = batch * self.n * dim;
        let y = gpu::alloc(&dev, total)?;
        let rows = count_u32(batch * self.n, self.name())?;
        let (n, len, dim) =
            (self.n as u32, count_u32(len, self.name())?, count_u32(dim, self.name())?);
        // SAFETY: bounds are checked against len when built ([`range_max`]); y has rows · dim.
        launch!(
            dev,
            "range_max_f32",
            gpu::elements(count_u32(total, self.name())?),
            &x,
            &bounds,
            &y,
            &rows,
            &n,
            &len,
            &dim,
        );
        Ok((
            candle_core::CudaStorage::wrap_cuda_slice(y, dev),
            Shape::from((batch, self.n, dim as usize)),
        ))
    }

    fn bwd(
        &self,
        x: &Tensor,
        bounds: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let op = RangeMaxBwd { n: self.n };
        Ok((Some(x.detach().apply_op3_no_bwd(bounds, &grad.contiguous()?, &op)?), None))
    }
}

/// (x, bounds, dy) → dx: each range's gradient to its first maximum, column by column.
struct RangeMaxBwd {
    n: usize,
}

impl CustomOp3 for RangeMaxBwd {
    fn name(&self) -> &'static str {
        "spanscope-range-max-bwd"
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
        let (batch, len, dim) = range_dims(l1, l2, self.n, self.name())?;
        let (x, bounds) =
            (contiguous::<f32>(s1, l1, self.name())?, contiguous::<u32>(s2, l2, self.name())?);
        let dy = contiguous::<f32>(s3, l3, self.name())?;
        if dy.len() != batch * self.n * dim {
            candle_core::bail!("{}: gradient of {} values", self.name(), dy.len());
        }
        let mut dx = vec![0f32; x.len()];
        for r in 0..batch * self.n {
            let (s, e) = (bounds[2 * r] as usize, bounds[2 * r + 1] as usize);
            if s >= e {
                continue;
            }
            let base = (r / self.n) * len * dim;
            for d in 0..dim {
                let (t, _) = first_max(&x[base..base + len * dim], dim, d, s, e);
                dx[base + t * dim + d] += dy[r * dim + d];
            }
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
        s3: &candle_core::CudaStorage,
        l3: &Layout,
    ) -> Result<(candle_core::CudaStorage, Shape)> {
        let (batch, len, dim) = range_dims(l1, l2, self.n, self.name())?;
        let dev = s1.device().clone();
        let x = gpu::view::<f32>(s1, l1, self.name())?;
        let bounds = gpu::view::<u32>(s2, l2, self.name())?;
        let dy = gpu::view::<f32>(s3, l3, self.name())?;
        if dy.len() != batch * self.n * dim {
            candle_core::bail!("{}: gradient of {} values", self.name(), dy.len());
        }
        let dx = gpu::alloc(&dev, x.len())?;
        let (bs, n) = (count_u32(batch, self.name())?, self.n as u32);
        let (len, dim) = (count_u32(len, self.name())?, count_u32(dim, self.name())?);
        // SAFETY: as for the forward kernel; dx has batch · len · dim elements.
        launch!(
            dev,
            "range_max_bwd_f32",
            gpu::elements(count_u32(x.len(), self.name())?),
            &x,
            &bounds,
            &dy,
            &dx,
            &bs,
            &n,
            &len,
            &dim,
        );
        Ok((candle_core::CudaStorage::wrap_cuda_slice(dx, dev), l1.shape().clone()))
    }
}

/// Max over each range of positions of `x` `[B, T, D]` (f32), `[B, N, D]` with `N` the
/// longest list: one kernel, no table. Empty ranges, ranges past `T` and the padding of
/// shorter lists give zeros; the gradient of a range goes to the first position of its
/// maximum.
pub fn range_max(x: &Tensor, ranges: &[Vec<std::ops::Range<usize>>]) -> Result<Tensor> {
    let (batch, len, _) = x.dims3()?;
    if ranges.len() != batch {
        candle_core::bail!("{} range lists for a batch of {batch}", ranges.len());
    }
    let n = ranges.iter().map(Vec::len).max().unwrap_or(0);
    if n == 0 {
        return Tensor::zeros((batch, 0, x.dim(2)?), x.dtype(), x.device());
    }
    let mut bounds = Vec::with_capacity(2 * batch * n);
    for list in ranges {
        for i in 0..n {
            match list.get(i) {
                Some(r) if r.start < r.end && r.end <= len => {
                    bounds.extend([r.start as u32, r.end as u32]);
                }
                _ => bounds.extend([0, 0]),
            }
        }
    }
    let bounds = Tensor::from_vec(bounds, (batch * n, 2), x.device())?;
    x.to_dtype(DType::F32)?.contiguous()?.apply_op2(&bounds, RangeMax { n })?.to_dtype(x.dtype())
}

/// [`range_max`] composed from candle's ops, range by range (empty ranges and padding are 0):
/// the reference the fused op is tested against.
pub fn range_max_slow(x: &Tensor, ranges: &[Vec<std::ops::Range<usize>>]) -> Result<Tensor> {
    let (batch, _, d) = x.dims3()?;
    let n = ranges.iter().map(Vec::len).max().unwrap_or(0);
    let zero = Tensor::zeros((1, d), x.dtype(), x.device())?;
    let mut rows = Vec::with_capacity(batch * n);
    for (b, list) in ranges.iter().enumerate() {
        let x = x.get(b)?;
        for i in 0..n {
            rows.push(match list.get(i) {
                Some(r) if r.start < r.end => x.narrow(0, r.start, r.len())?.max_keepdim(0)?,
                _ => zero.clone(),
            });
        }
    }
    Tensor::cat(&rows, 0)?.reshape((batch, n, d))
}
