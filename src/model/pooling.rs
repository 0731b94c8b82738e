//! Pooling over contiguous ranges of word pieces, for many ranges in a few kernel launches.
//!
//! Spans, the queries of f_a and the localized relation context are all contiguous piece ranges.
//! Max-pooling is one kernel over every range of a batch, with its own backward pass
//! ([`RangeMax`]; an earlier sparse table of `log2(T)` levels cost many times the kernels a
//! training step: docs/BENCHMARKS.md, "Figures that were code comments"). Sums use a `[N, T]`
//! range mask and one batched matmul ([`range_sum`]). Both are differentiable, on the CPU and
//! on CUDA.

use std::ops::Range;

use candle_core::{DType, Device, Result, Tensor};

/// Max over any contiguous range of positions of a `[B, T, D]` tensor: one kernel for every
/// range of a batch ([`crate::model::fused::range_max`]), differentiable.
#[derive(Debug, Clone)]
pub struct RangeMax {
    x: Tensor,
}

impl RangeMax {
    /// Ranges of `x`, of shape `[B, T, D]`.
    pub fn new(x: &Tensor) -> Result<Self> {
        x.dims3()?;
        Ok(Self { x: x.clone() })
    }

    /// Maximum over each range, `[B, N, D]` with `N` the longest list; empty ranges and the
    /// padding of shorter lists give zeros. `ranges[b]` are position ranges of batch item `b`.
    pub fn query(&self, ranges: &[Vec<Range<usize>>]) -> Result<Tensor> {
        crate::model::fused::range_max(&self.x, ranges)
    }
}

/// A `[B, N, T]` mask (in `dtype`) that is 1 where position `t` lies in range `n` of item `b`;
/// padding ranges (lists shorter than the longest) are all zeros.
pub fn range_mask(
    ranges: &[Vec<Range<usize>>],
    len: usize,
    dtype: DType,
    device: &Device,
) -> Result<Tensor> {
    let batch = ranges.len();
    let n = ranges.iter().map(Vec::len).max().unwrap_or(0);
    let (mut starts, mut ends) = (Vec::with_capacity(batch * n), Vec::with_capacity(batch * n));
    for list in ranges {
        for i in 0..n {
            let r = list.get(i).cloned().unwrap_or(0..0);
            starts.push(r.start.min(len) as u32);
            ends.push(r.end.min(len) as u32);
        }
    }
    let starts = Tensor::from_vec(starts, (batch, n, 1), device)?;
    let ends = Tensor::from_vec(ends, (batch, n, 1), device)?;
    let positions = Tensor::arange(0u32, len as u32, device)?.reshape((1, 1, len))?;
    let inside = positions.broadcast_ge(&starts)?.to_dtype(dtype)?;
    let before_end = positions.broadcast_lt(&ends)?.to_dtype(dtype)?;
    inside.mul(&before_end)
}

/// Sum over each range of positions of `x` (`[B, T, D]`), `[B, N, D]`: a range mask times `x`.
pub fn range_sum(x: &Tensor, ranges: &[Vec<Range<usize>>]) -> Result<Tensor> {
    let (_, len, _) = x.dims3()?;
    let mask = range_mask(ranges, len, x.dtype(), x.device())?;
    mask.matmul(&x.contiguous()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive_max(x: &[Vec<Vec<f32>>], b: usize, r: &Range<usize>) -> Vec<f32> {
        let dim = x[b][0].len();
        if r.is_empty() {
            return vec![0.0; dim];
        }
        (0..dim).map(|d| r.clone().map(|t| x[b][t][d]).fold(f32::MIN, f32::max)).collect()
    }

    #[test]
    fn range_max_equals_naive_max_for_every_range() -> Result<()> {
        let (batch, len, dim) = (2, 13, 3);
        let data: Vec<f32> =
            (0..batch * len * dim).map(|i| ((i * 37 % 23) as f32 - 11.0) / 3.0).collect();
        let x = Tensor::from_vec(data, (batch, len, dim), &Device::Cpu)?;
        let host = x.to_vec3::<f32>()?;
        let mut ranges = vec![Vec::new(), Vec::new()];
        for s in 0..len {
            for e in s..=len {
                ranges[0].push(s..e);
                ranges[1].push(e - (e - s) / 2..e);
            }
        }
        ranges[1].truncate(40);
        let pooled = RangeMax::new(&x)?.query(&ranges)?.to_vec3::<f32>()?;
        for (b, list) in ranges.iter().enumerate() {
            for (i, r) in list.iter().enumerate() {
                assert_eq!(pooled[b][i], naive_max(&host, b, r), "item {b} range {r:?}");
            }
            for row in &pooled[b][list.len()..] {
                assert!(row.iter().all(|v| *v == 0.0), "padding rows are zero");
            }
        }
        Ok(())
    }

    #[test]
    fn range_sum_adds_the_positions_of_each_range() -> Result<()> {
        let x = Tensor::arange(0f32, 10f32, &Device::Cpu)?.reshape((1, 10, 1))?;
        let sums = range_sum(&x, &[vec![0..10, 2..5, 3..3]])?.to_vec3::<f32>()?;
        assert_eq!(sums[0], vec![vec![45.0], vec![9.0], vec![0.0]]);
        Ok(())
    }
}
