//! f_a's per-query statistics.

use super::*;

/// `[B, layers, heads, T, T]` attention probabilities and a `[B, T]` key mask →
/// `[B, T, layers · heads]`, the sum (or maximum) over real keys of the probabilities above θ.
#[derive(Debug, Clone, Copy)]
struct QueryStats {
    theta: f32,
    max: bool,
}

/// `(batch, layers · heads, queries)` of a statistics call, after checking the shapes.
fn stats_dims(a: &Layout, mask: &Layout, op: &str) -> Result<(usize, usize, usize)> {
    let (batch, layers, heads, t, keys) = a.shape().dims5()?;
    if keys != t || mask.dims() != [batch, t] {
        candle_core::bail!("{op}: attentions {:?} with a key mask {:?}", a.dims(), mask.dims());
    }
    Ok((batch, layers * heads, t))
}

/// Row `r` of `[B, layers · heads, T, T]` attentions (`t` queries, `lh` layers · heads): its
/// item and its place in the `[B, T, layers · heads]` statistics.
fn stats_place(r: usize, t: usize, lh: usize) -> (usize, usize) {
    let (q, query) = (r / t, r % t);
    let (b, h) = (q / lh, q % lh);
    (b, (b * t + query) * lh + h)
}

/// That a statistics gradient (and the statistics) fit `[batch, t, lh]`.
fn check_stats_grad(
    grad: usize,
    stats: usize,
    (batch, lh, t): (usize, usize, usize),
    op: &str,
) -> Result<()> {
    if grad != batch * t * lh || stats != grad {
        candle_core::bail!("{op}: {grad} gradients for {batch} x {t} x {lh}");
    }
    Ok(())
}

impl QueryStats {
    /// One row of keys: its statistic.
    fn row(&self, row: &[f32], mask: &[f32]) -> f32 {
        let kept = row.iter().zip(mask).map(|(&v, &m)| if v > self.theta { v * m } else { 0.0 });
        if self.max {
            kept.fold(0.0, f32::max)
        } else {
            kept.sum()
        }
    }
}

impl CustomOp2 for QueryStats {
    fn name(&self) -> &'static str {
        "spanscope-query-stats"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (batch, lh, t) = stats_dims(l1, l2, self.name())?;
        let (a, mask) =
            (contiguous::<f32>(s1, l1, self.name())?, contiguous::<f32>(s2, l2, self.name())?);
        let mut out = vec![0f32; batch * t * lh];
        for (r, row) in a.chunks(t).enumerate() {
            let (b, at) = stats_place(r, t, lh);
            out[at] = self.row(row, &mask[b * t..][..t]);
        }
        Ok((CpuStorage::F32(out), Shape::from((batch, t, lh))))
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        s1: &candle_core::CudaStorage,
        l1: &Layout,
        s2: &candle_core::CudaStorage,
        l2: &Layout,
    ) -> Result<(candle_core::CudaStorage, Shape)> {
        let (batch, lh, t) = stats_dims(l1, l2, self.name())?;
        let dev = s1.device().clone();
        let (a, mask) =
            (gpu::view::<f32>(s1, l1, self.name())?, gpu::view::<f32>(s2, l2, self.name())?);
        let out = gpu::alloc(&dev, batch * t * lh)?;
        let rows = count_u32(batch * lh * t, self.name())?;
        let (cols, lh32) = (count_u32(t, self.name())?, count_u32(lh, self.name())?);
        let use_max = u32::from(self.max);
        // SAFETY: a has rows · cols elements, mask batch · cols, out batch · cols · lh (checked).
        launch!(
            dev,
            "query_stats_f32",
            gpu::rows(rows),
            &a,
            &mask,
            &out,
            &rows,
            &cols,
            &lh32,
            &self.theta,
            &use_max,
        );
        Ok((candle_core::CudaStorage::wrap_cuda_slice(out, dev), Shape::from((batch, t, lh))))
    }

    fn bwd(
        &self,
        a: &Tensor,
        mask: &Tensor,
        res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let op = QueryStatsBwd { stats: self, res: res.detach() };
        let da = a.detach().apply_op3_no_bwd(&mask.detach(), &grad.detach().contiguous()?, &op)?;
        Ok((Some(da), None))
    }
}

/// (attentions, key mask, gradient of the statistics) → the attentions' gradient: the
/// statistic's gradient on every kept key, for the maximum only where the kept value equals it
/// (every tie, as candle's `max`).
struct QueryStatsBwd<'a> {
    stats: &'a QueryStats,
    /// The statistics themselves, `[B, T, layers · heads]`.
    res: Tensor,
}

impl CustomOp3 for QueryStatsBwd<'_> {
    fn name(&self) -> &'static str {
        "spanscope-query-stats-bwd"
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
        let dims = stats_dims(l1, l2, self.name())?;
        let (_, lh, t) = dims;
        let (a, mask, g) = (
            contiguous::<f32>(s1, l1, self.name())?,
            contiguous::<f32>(s2, l2, self.name())?,
            contiguous::<f32>(s3, l3, self.name())?,
        );
        let theta = self.stats.theta;
        let da = cpu_values([&self.res], self.name(), |[top]| {
            check_stats_grad(g.len(), top.len(), dims, self.name())?;
            let mut da = Vec::with_capacity(a.len());
            for (r, row) in a.chunks(t).enumerate() {
                let (b, at) = stats_place(r, t, lh);
                da.extend(row.iter().zip(&mask[b * t..][..t]).map(|(&v, &m)| {
                    let kept = if v > theta { m } else { 0.0 };
                    let on = !self.stats.max || v * kept == top[at];
                    if on {
                        g[at] * kept
                    } else {
                        0.0
                    }
                }));
            }
            Ok(da)
        })?;
        Ok((CpuStorage::F32(da), l1.shape().clone()))
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
        let dims = stats_dims(l1, l2, self.name())?;
        let (batch, lh, t) = dims;
        let dev = s1.device().clone();
        let (a, mask, g) = (
            gpu::view::<f32>(s1, l1, self.name())?,
            gpu::view::<f32>(s2, l2, self.name())?,
            gpu::view::<f32>(s3, l3, self.name())?,
        );
        let da = gpu::alloc(&dev, a.len())?;
        let rows = count_u32(batch * lh * t, self.name())?;
        let (cols, lh32) = (count_u32(t, self.name())?, count_u32(lh, self.name())?);
        let use_max = u32::from(self.stats.max);
        gpu::values([&self.res], self.name(), |[top]| {
            check_stats_grad(g.len(), top.len(), dims, self.name())?;
            // SAFETY: a and da of rows · cols, mask batch · cols, g and top batch · cols · lh.
            launch!(
                dev,
                "query_stats_bwd_f32",
                gpu::rows(rows),
                &a,
                &mask,
                &g,
                &top,
                &da,
                &rows,
                &cols,
                &lh32,
                &self.stats.theta,
                &use_max,
            );
            Ok(())
        })?;
        Ok((candle_core::CudaStorage::wrap_cuda_slice(da, dev), l1.shape().clone()))
    }
}

/// f_a's per-query statistics as one graph node: `[B, T, layers · heads]` from attention
/// probabilities `[B, layers, heads, T, T]` (f32) and a `[B, T]` key mask (1 for real pieces;
/// any dtype), the sum (`max` false) or maximum over real keys of the probabilities above
/// `theta`. The mask gets no gradient.
pub fn query_stats(
    attentions: &Tensor,
    key_mask: &Tensor,
    theta: f32,
    max: bool,
) -> Result<Tensor> {
    let mask = key_mask.to_dtype(DType::F32)?.detach().contiguous()?;
    attentions.contiguous()?.apply_op2(&mask, QueryStats { theta, max })
}

/// [`query_stats`] composed from candle's ops, as spanscope computed it before the fused op:
/// the reference the fused op is tested against.
pub fn query_stats_slow(a: &Tensor, key_mask: &Tensor, theta: f32, max: bool) -> Result<Tensor> {
    let (b, l, h, t, k) = a.dims5()?;
    let kept = a.detach().gt(f64::from(theta))?.to_dtype(DType::F32)?;
    let key_mask = key_mask.to_dtype(DType::F32)?.reshape((b, 1, 1, 1, k))?;
    let thresholded = a.mul(&kept.broadcast_mul(&key_mask)?)?;
    let per_query = if max { thresholded.max(D::Minus1)? } else { thresholded.sum(D::Minus1)? };
    per_query.reshape((b, l * h, t))?.transpose(1, 2)?.contiguous()
}
