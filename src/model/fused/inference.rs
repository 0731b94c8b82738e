//! Inference steps.

use super::*;

/// `LN(x + bias + residual)` with weight `w` and bias `b`, rows of the last dimension; no
/// backward pass.
struct BiasResidualNorm {
    bias: Tensor,
    w: Tensor,
    b: Tensor,
    eps: f32,
}

impl BiasResidualNorm {
    fn check(&self, x: &Layout, residual: &Layout) -> Result<()> {
        same_shape(x, residual, self.name())?;
        check_params(x, self.w.layout(), Some(self.b.layout()), self.name())?;
        check_params(x, self.bias.layout(), None, self.name())
    }
}

impl CustomOp2 for BiasResidualNorm {
    fn name(&self) -> &'static str {
        "spanscope-bias-residual-layer-norm"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        self.check(l1, l2)?;
        let (x, res) =
            (contiguous::<f32>(s1, l1, self.name())?, contiguous::<f32>(s2, l2, self.name())?);
        let (_, cols) = rows_cols(l1)?;
        let y = cpu_values([&self.bias, &self.w, &self.b], self.name(), |[bias, w, b]| {
            let mut y: Vec<f32> = Vec::with_capacity(x.len());
            for (xr, rr) in x.chunks(cols).zip(res.chunks(cols)) {
                let start = y.len();
                y.extend(xr.iter().zip(bias).zip(rr).map(|((x, c), r)| (x + c) + r));
                let row = &mut y[start..];
                let (mean, rstd) = row_stats(row, self.eps);
                for ((v, w), b) in row.iter_mut().zip(w).zip(b) {
                    *v = (*v - mean) * rstd * w + b;
                }
            }
            Ok(y)
        })?;
        Ok((CpuStorage::F32(y), l1.shape().clone()))
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        s1: &candle_core::CudaStorage,
        l1: &Layout,
        s2: &candle_core::CudaStorage,
        l2: &Layout,
    ) -> Result<(candle_core::CudaStorage, Shape)> {
        self.check(l1, l2)?;
        let dev = s1.device().clone();
        let (x, res) =
            (gpu::view::<f32>(s1, l1, self.name())?, gpu::view::<f32>(s2, l2, self.name())?);
        let (rows, cols) = gpu::rows_cols(l1, self.name())?;
        let y = gpu::alloc(&dev, x.len())?;
        gpu::values([&self.bias, &self.w, &self.b], self.name(), |[bias, w, b]| {
            // SAFETY: x, res and y of rows · cols elements; bias, w and b of cols (checked).
            launch!(
                dev,
                "bias_residual_layer_norm_f32",
                gpu::rows(rows),
                &x,
                &bias,
                &res,
                &w,
                &b,
                &y,
                &rows,
                &cols,
                &self.eps,
            );
            Ok(())
        })?;
        Ok((candle_core::CudaStorage::wrap_cuda_slice(y, dev), l1.shape().clone()))
    }
}

/// Inference: `layer_norm(x + bias + residual)` over the last dimension, in f32, as one kernel
/// instead of three (the bias add of the matrix product `x`, the residual add, the norm). No
/// gradient.
pub(crate) fn bias_residual_layer_norm(
    x: &Tensor,
    bias: &Tensor,
    residual: &Tensor,
    (w, b): (&Tensor, &Tensor),
    eps: f32,
) -> Result<Tensor> {
    let op =
        BiasResidualNorm { bias: bias.contiguous()?, w: w.contiguous()?, b: b.contiguous()?, eps };
    x.contiguous()?.apply_op2_no_bwd(&residual.contiguous()?, &op)
}

/// `gelu(x + bias)`, bias over the last dimension; no backward pass.
struct BiasGelu;

impl CustomOp2 for BiasGelu {
    fn name(&self) -> &'static str {
        "spanscope-bias-gelu"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        check_params(l1, l2, None, self.name())?;
        let (x, bias) =
            (contiguous::<f32>(s1, l1, self.name())?, contiguous::<f32>(s2, l2, self.name())?);
        let mut y = Vec::with_capacity(x.len());
        for row in x.chunks(bias.len()) {
            y.extend(row.iter().zip(bias).map(|(x, c)| (x + c) * normal_cdf(x + c)));
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
    ) -> Result<(candle_core::CudaStorage, Shape)> {
        check_params(l1, l2, None, self.name())?;
        let dev = s1.device().clone();
        let (x, bias) =
            (gpu::view::<f32>(s1, l1, self.name())?, gpu::view::<f32>(s2, l2, self.name())?);
        let n = count_u32(x.len(), self.name())?;
        let cols = count_u32(bias.len(), self.name())?;
        let y = gpu::alloc(&dev, x.len())?;
        // SAFETY: x and y of n elements, bias of cols, n a multiple of cols (checked above).
        launch!(dev, "bias_gelu_f32", gpu::elements(n), &x, &bias, &y, &n, &cols);
        Ok((candle_core::CudaStorage::wrap_cuda_slice(y, dev), l1.shape().clone()))
    }
}

/// Inference: erf `gelu(x + bias)`, bias over the last dimension, in f32, one kernel instead of
/// two. No gradient.
pub(crate) fn bias_gelu(x: &Tensor, bias: &Tensor) -> Result<Tensor> {
    x.contiguous()?.apply_op2_no_bwd(&bias.contiguous()?, &BiasGelu)
}

/// `(x + bias)` of a q/k/v product `[B, T, 3 · heads · d]` in the layout the attention
/// products take, `[3, B, heads, T, d]`; no backward pass.
struct BiasSplitHeads {
    heads: usize,
}

impl BiasSplitHeads {
    /// `(B, T, heads, d)`, checked against the bias.
    fn dims(&self, x: &Layout, bias: &Layout) -> Result<(usize, usize, usize, usize)> {
        let (batch, t, width) = x.shape().dims3()?;
        let d = width / 3 / self.heads.max(1);
        if self.heads == 0 || d * 3 * self.heads != width || bias.shape().elem_count() != width {
            candle_core::bail!(
                "{}: {width} columns are not q, k and v of {} heads, or a bias of shape {:?}",
                self.name(),
                self.heads,
                bias.dims()
            );
        }
        Ok((batch, t, self.heads, d))
    }
}

impl CustomOp2 for BiasSplitHeads {
    fn name(&self) -> &'static str {
        "spanscope-bias-split-heads"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (batch, t, heads, d) = self.dims(l1, l2)?;
        let (x, bias) =
            (contiguous::<f32>(s1, l1, self.name())?, contiguous::<f32>(s2, l2, self.name())?);
        let hd = heads * d;
        let mut y = Vec::with_capacity(x.len());
        for part in 0..3 {
            for item in 0..batch {
                for head in 0..heads {
                    let col = part * hd + head * d;
                    let bias = &bias[col..col + d];
                    for pos in 0..t {
                        let start = (item * t + pos) * 3 * hd + col;
                        y.extend(x[start..start + d].iter().zip(bias).map(|(x, c)| x + c));
                    }
                }
            }
        }
        Ok((CpuStorage::F32(y), Shape::from((3, batch, heads, t, d))))
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        s1: &candle_core::CudaStorage,
        l1: &Layout,
        s2: &candle_core::CudaStorage,
        l2: &Layout,
    ) -> Result<(candle_core::CudaStorage, Shape)> {
        let (batch, t, heads, d) = self.dims(l1, l2)?;
        let dev = s1.device().clone();
        let (x, bias) =
            (gpu::view::<f32>(s1, l1, self.name())?, gpu::view::<f32>(s2, l2, self.name())?);
        let n = count_u32(x.len(), self.name())?;
        let [batch32, t32, heads32, d32] = [batch, t, heads, d].map(|v| v as u32);
        let y = gpu::alloc(&dev, x.len())?;
        // SAFETY: x and y of n = B · T · 3 · heads · d elements, bias of 3 · heads · d (checked).
        launch!(
            dev,
            "bias_split_heads_f32",
            gpu::elements(n),
            &x,
            &bias,
            &y,
            &n,
            &batch32,
            &t32,
            &heads32,
            &d32,
        );
        Ok((
            candle_core::CudaStorage::wrap_cuda_slice(y, dev),
            Shape::from((3, batch, heads, t, d)),
        ))
    }
}

/// Inference: the q/k/v product `x` `[B, T, 3 · heads · d]` plus its bias, as
/// `[3, B, heads, T, d]` (queries, keys, values), in f32, one kernel instead of a bias add and a
/// copy. No gradient.
pub(crate) fn bias_split_heads(x: &Tensor, bias: &Tensor, heads: usize) -> Result<Tensor> {
    x.contiguous()?.apply_op2_no_bwd(&bias.contiguous()?, &BiasSplitHeads { heads })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_heads_is_the_biased_product_permuted_into_heads() {
        let (b, t, heads, d) = (2, 5, 3, 4);
        let w = 3 * heads * d;
        let dev = candle_core::Device::Cpu;
        let x = Tensor::arange(0f32, (b * t * w) as f32, &dev).unwrap().reshape((b, t, w)).unwrap();
        let bias = (Tensor::arange(0f32, w as f32, &dev).unwrap() * 1000.0).unwrap();
        let want = x
            .broadcast_add(&bias)
            .unwrap()
            .reshape((b, t, 3, heads, d))
            .unwrap()
            .permute((2, 0, 3, 1, 4))
            .unwrap()
            .contiguous()
            .unwrap();
        let got = bias_split_heads(&x, &bias, heads).unwrap();
        assert_eq!(got.dims(), &[3, b, heads, t, d]);
        let flat = |t: &Tensor| t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        assert_eq!(flat(&got), flat(&want));
        assert!(bias_split_heads(&x, &bias, 5).is_err(), "36 columns are not 3 x 5 heads");
    }
}
