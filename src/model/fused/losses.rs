//! Losses.

use super::*;

/// Row-wise cross-entropy `logsumexp(x_r) − x_r[label_r]` of `[N, C]` logits and `[N]` labels.
struct CrossEntropy;

fn log_sum_exp(row: &[f32]) -> (f32, f32) {
    let m = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    (m, row.iter().map(|v| (v - m).exp()).sum::<f32>())
}

fn check_labels(lx: &Layout, ll: &Layout, op: &str) -> Result<(usize, usize)> {
    let (rows, cols) = lx.shape().dims2()?;
    if ll.shape().elem_count() != rows {
        candle_core::bail!("{op}: {} labels for {rows} rows", ll.shape().elem_count());
    }
    Ok((rows, cols))
}

fn label_index(label: u32, cols: usize, op: &str) -> Result<usize> {
    let label = label as usize;
    if label >= cols {
        candle_core::bail!("{op}: label {label} of {cols} classes");
    }
    Ok(label)
}

impl CustomOp2 for CrossEntropy {
    fn name(&self) -> &'static str {
        "spanscope-cross-entropy"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (rows, cols) = check_labels(l1, l2, self.name())?;
        let (x, labels) =
            (contiguous::<f32>(s1, l1, self.name())?, contiguous::<u32>(s2, l2, self.name())?);
        let loss = x
            .chunks(cols)
            .zip(labels)
            .map(|(row, &label)| {
                let (m, s) = log_sum_exp(row);
                Ok(m + s.ln() - row[label_index(label, cols, self.name())?])
            })
            .collect::<Result<Vec<f32>>>()?;
        Ok((CpuStorage::F32(loss), Shape::from(rows)))
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        s1: &candle_core::CudaStorage,
        l1: &Layout,
        s2: &candle_core::CudaStorage,
        l2: &Layout,
    ) -> Result<(candle_core::CudaStorage, Shape)> {
        let (rows, cols) = check_labels(l1, l2, self.name())?;
        let dev = s1.device().clone();
        let x = gpu::view::<f32>(s1, l1, self.name())?;
        let labels = gpu::view::<u32>(s2, l2, self.name())?;
        let loss = gpu::alloc(&dev, rows)?;
        let (rows, cols) = (count_u32(rows, self.name())?, count_u32(cols, self.name())?);
        // SAFETY: the kernel reads a label's logit only when the label is below `cols`.
        launch!(dev, "cross_entropy_f32", gpu::rows(rows), &x, &labels, &loss, &rows, &cols);
        Ok((candle_core::CudaStorage::wrap_cuda_slice(loss, dev), Shape::from(rows as usize)))
    }

    fn bwd(
        &self,
        x: &Tensor,
        labels: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let dx = x.detach().apply_op3_no_bwd(labels, &grad.contiguous()?, &CrossEntropyBwd)?;
        Ok((Some(dx), None))
    }
}

/// (x, labels, g) → g_r · (softmax(x_r) − onehot(label_r)).
struct CrossEntropyBwd;

impl CustomOp3 for CrossEntropyBwd {
    fn name(&self) -> &'static str {
        "spanscope-cross-entropy-bwd"
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
        let (_, cols) = check_labels(l1, l2, self.name())?;
        let (x, labels) =
            (contiguous::<f32>(s1, l1, self.name())?, contiguous::<u32>(s2, l2, self.name())?);
        let g = contiguous::<f32>(s3, l3, self.name())?;
        let mut dx = Vec::with_capacity(x.len());
        for ((row, &label), g) in x.chunks(cols).zip(labels).zip(g) {
            let (m, s) = log_sum_exp(row);
            let label = label_index(label, cols, self.name())?;
            dx.extend(
                row.iter()
                    .enumerate()
                    .map(|(j, v)| g * ((v - m).exp() / s - if j == label { 1.0 } else { 0.0 })),
            );
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
        let (rows, cols) = check_labels(l1, l2, self.name())?;
        let dev = s1.device().clone();
        let x = gpu::view::<f32>(s1, l1, self.name())?;
        let labels = gpu::view::<u32>(s2, l2, self.name())?;
        let g = gpu::view::<f32>(s3, l3, self.name())?;
        if g.len() != rows {
            candle_core::bail!("{}: {} gradients for {rows} rows", self.name(), g.len());
        }
        let dx = gpu::alloc(&dev, x.len())?;
        let (rows, cols) = (count_u32(rows, self.name())?, count_u32(cols, self.name())?);
        // SAFETY: as for the forward kernel; dx has rows · cols elements.
        launch!(dev, "cross_entropy_bwd_f32", gpu::rows(rows), &x, &labels, &g, &dx, &rows, &cols);
        Ok((candle_core::CudaStorage::wrap_cuda_slice(dx, dev), l1.shape().clone()))
    }
}

/// Mean cross-entropy of `[N, C]` logits against class indices `labels` (`[N]`, u32), as one
/// graph node and a mean.
pub fn cross_entropy(logits: &Tensor, labels: &Tensor) -> Result<Tensor> {
    logits.dims2()?;
    if logits.dtype() != DType::F32 || labels.dtype() != DType::U32 {
        return candle_nn::loss::cross_entropy(logits, labels);
    }
    // A label out of range is an error on the CPU and a NaN loss on the GPU.
    logits.contiguous()?.apply_op2(&labels.contiguous()?, CrossEntropy)?.mean_all()
}

/// Binary cross-entropy with logits, elementwise; the targets get no gradient.
struct Bce;

impl CustomOp2 for Bce {
    fn name(&self) -> &'static str {
        "spanscope-bce"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        cpu_map2(self.name(), (s1, l1), (s2, l2), |v, t| {
            v.max(0.0) - v * t + (-v.abs()).exp().ln_1p()
        })
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        s1: &candle_core::CudaStorage,
        l1: &Layout,
        s2: &candle_core::CudaStorage,
        l2: &Layout,
    ) -> Result<(candle_core::CudaStorage, Shape)> {
        gpu::map2(self.name(), "bce_f32", (s1, l1), (s2, l2))
    }

    fn bwd(
        &self,
        x: &Tensor,
        t: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        Ok((Some(x.detach().apply_op3_no_bwd(t, &grad.contiguous()?, &BceBwd)?), None))
    }
}

/// (x, t, g) → g · (σ(x) − t).
struct BceBwd;

impl CustomOp3 for BceBwd {
    fn name(&self) -> &'static str {
        "spanscope-bce-bwd"
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
        same_shape(l1, l2, self.name())?;
        same_shape(l1, l3, self.name())?;
        let (x, t) =
            (contiguous::<f32>(s1, l1, self.name())?, contiguous::<f32>(s2, l2, self.name())?);
        let g = contiguous::<f32>(s3, l3, self.name())?;
        let dx = x.iter().zip(t).zip(g).map(|((v, t), g)| g * (1.0 / (1.0 + (-v).exp()) - t));
        Ok((CpuStorage::F32(dx.collect()), l1.shape().clone()))
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
        same_shape(l1, l2, self.name())?;
        same_shape(l1, l3, self.name())?;
        let dev = s1.device().clone();
        let (x, t) =
            (gpu::view::<f32>(s1, l1, self.name())?, gpu::view::<f32>(s2, l2, self.name())?);
        let g = gpu::view::<f32>(s3, l3, self.name())?;
        let n = count_u32(x.len(), self.name())?;
        let dx = gpu::alloc(&dev, x.len())?;
        // SAFETY: four buffers of n elements.
        launch!(dev, "bce_bwd_f32", gpu::elements(n), &x, &t, &g, &dx, &n);
        Ok((candle_core::CudaStorage::wrap_cuda_slice(dx, dev), l1.shape().clone()))
    }
}

/// Binary cross-entropy with logits, elementwise, `max(x, 0) − x·t + log(1 + e^−|x|)`, as one
/// graph node (f32; other dtypes composed). The targets get no gradient.
pub fn bce_with_logits(logits: &Tensor, targets: &Tensor) -> Result<Tensor> {
    if logits.dtype() == DType::F32 && targets.dtype() == DType::F32 {
        return logits.contiguous()?.apply_op2(&targets.contiguous()?.detach(), Bce);
    }
    bce_with_logits_slow(logits, targets)
}

/// [`bce_with_logits`] composed from candle's ops: the reference the fused op is tested
/// against, and the path of other dtypes.
pub fn bce_with_logits_slow(logits: &Tensor, targets: &Tensor) -> Result<Tensor> {
    let softplus = logits.abs()?.neg()?.exp()?.affine(1.0, 1.0)?.log()?;
    (logits.relu()? - (logits * targets)?)? + softplus
}
