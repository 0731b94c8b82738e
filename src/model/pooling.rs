//! Pooling over contiguous ranges of word pieces, for many ranges in a few kernel launches.
//!
//! Spans, the queries of f_a and the localized relation context are all contiguous piece ranges.
//! Max-pooling uses a sparse table ([`RangeMax`]): `log2(T)` levels built once per batch, then two
//! gathers and one `maximum` answer every range at once. Sums use a `[N, T]` range mask and one
//! batched matmul ([`range_sum`]). Both are differentiable and use only ops that exist on the CPU
//! and on CUDA.

use std::ops::Range;

use candle_core::{DType, Device, Result, Tensor};

/// Max over any contiguous range of positions of a `[B, T, D]` tensor (a sparse table).
///
/// Level `k` holds, at position `t`, the maximum over `[t, t + 2^k)`; a range of length `n` is
/// the maximum of two overlapping level-`floor(log2 n)` entries.
#[derive(Debug, Clone)]
pub struct RangeMax {
    /// All levels, flattened: row `k * B * T + b * T + t`.
    table: Tensor,
    batch: usize,
    len: usize,
    dim: usize,
}

impl RangeMax {
    /// Builds the table for `x` of shape `[B, T, D]`.
    pub fn new(x: &Tensor) -> Result<Self> {
        let (batch, len, dim) = x.dims3()?;
        let mut levels = vec![x.clone()];
        let mut width = 1;
        while width * 2 <= len {
            let prev = levels[levels.len() - 1].clone();
            // level_k[t] = max(level_{k-1}[t], level_{k-1}[t + 2^(k-1)]); the tail is never read.
            let merged =
                prev.narrow(1, 0, len - width)?.maximum(&prev.narrow(1, width, len - width)?)?;
            let pad = Tensor::zeros((batch, width, dim), x.dtype(), x.device())?;
            levels.push(Tensor::cat(&[&merged, &pad], 1)?);
            width *= 2;
        }
        let table = Tensor::stack(&levels, 0)?.reshape((levels.len() * batch * len, dim))?;
        Ok(Self { table, batch, len, dim })
    }

    /// Maximum over each range, `[B, N, D]` with `N` the longest list; empty ranges and the
    /// padding of shorter lists give zeros. `ranges[b]` are position ranges of batch item `b`.
    pub fn query(&self, ranges: &[Vec<Range<usize>>]) -> Result<Tensor> {
        let n = ranges.iter().map(Vec::len).max().unwrap_or(0);
        let rows = self.batch * n;
        let (mut first, mut second) = (Vec::with_capacity(rows), Vec::with_capacity(rows));
        let mut keep = Vec::with_capacity(rows);
        for b in 0..self.batch {
            let list = ranges.get(b).map(Vec::as_slice).unwrap_or(&[]);
            for i in 0..n {
                match list.get(i) {
                    Some(r) if r.end > r.start && r.end <= self.len => {
                        let level = (usize::BITS - 1 - (r.end - r.start).leading_zeros()) as usize;
                        let base = level * self.batch * self.len + b * self.len;
                        first.push((base + r.start) as u32);
                        second.push((base + r.end - (1 << level)) as u32);
                        keep.push(1f32);
                    }
                    _ => {
                        first.push(0);
                        second.push(0);
                        keep.push(0f32);
                    }
                }
            }
        }
        let device = self.table.device();
        let first = Tensor::from_vec(first, rows, device)?;
        let second = Tensor::from_vec(second, rows, device)?;
        let keep = Tensor::from_vec(keep, (rows, 1), device)?.to_dtype(self.table.dtype())?;
        let pooled = self
            .table
            .index_select(&first, 0)?
            .maximum(&self.table.index_select(&second, 0)?)?
            .broadcast_mul(&keep)?;
        pooled.reshape((self.batch, n, self.dim))
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
