//! Dropout with a counter-based mask.

use std::sync::atomic::{AtomicU64, Ordering};

use super::*;

/// SplitMix64's output function: a bijective mix of a 64-bit counter.
fn splitmix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Where dropout keys come from: a seeded counter, advanced once per dropout call. One stream
/// is shared by every dropout site of a model, so the order of calls in a forward pass (fixed
/// by the code) and the seed decide every mask.
#[derive(Debug)]
pub struct DropoutStream {
    state: AtomicU64,
}

const GOLDEN: u64 = 0x9e37_79b9_7f4a_7c15;

impl DropoutStream {
    /// A stream starting from `seed`.
    pub fn new(seed: u64) -> Self {
        Self { state: AtomicU64::new(splitmix64(seed)) }
    }

    /// Starts the stream again from `seed`: the same seed gives the same keys in the same order.
    pub fn reseed(&self, seed: u64) {
        self.state.store(splitmix64(seed), Ordering::Relaxed);
    }

    /// The next key.
    pub fn next_key(&self) -> u64 {
        splitmix64(self.state.fetch_add(GOLDEN, Ordering::Relaxed).wrapping_add(GOLDEN))
    }
}

impl Default for DropoutStream {
    fn default() -> Self {
        Self::new(0)
    }
}
/// murmur3's 32-bit finaliser, as in fused.cu.
fn fmix32(mut h: u32) -> u32 {
    h ^= h >> 16;
    h = h.wrapping_mul(0x85eb_ca6b);
    h ^= h >> 13;
    h = h.wrapping_mul(0xc2b2_ae35);
    h ^ (h >> 16)
}

/// Whether element `i` survives dropout with this key and threshold (p·2²⁴), as in fused.cu.
fn keeps(i: u32, k0: u32, k1: u32, threshold: u32) -> bool {
    (fmix32(fmix32(i ^ k0).wrapping_add(k1)) >> 8) >= threshold
}

#[derive(Debug, Clone, Copy)]
struct Dropout {
    k0: u32,
    k1: u32,
    threshold: u32,
    scale: f32,
}

impl Dropout {
    fn new(p: f32, key: u64) -> Self {
        Self {
            k0: key as u32,
            k1: (key >> 32) as u32,
            threshold: (f64::from(p) * f64::from(1u32 << 24)).round() as u32,
            scale: 1.0 / (1.0 - p),
        }
    }
}

impl CustomOp1 for Dropout {
    fn name(&self) -> &'static str {
        "spanscope-dropout"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = contiguous::<f32>(s, l, self.name())?;
        count_u32(x.len(), self.name())?;
        let y = x
            .iter()
            .enumerate()
            .map(|(i, v)| {
                if keeps(i as u32, self.k0, self.k1, self.threshold) {
                    v * self.scale
                } else {
                    0.0
                }
            })
            .collect();
        Ok((CpuStorage::F32(y), l.shape().clone()))
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        s: &candle_core::CudaStorage,
        l: &Layout,
    ) -> Result<(candle_core::CudaStorage, Shape)> {
        let dev = s.device().clone();
        let x = gpu::view::<f32>(s, l, self.name())?;
        let n = count_u32(x.len(), self.name())?;
        let y = gpu::alloc(&dev, x.len())?;
        // SAFETY: the kernel reads and writes n elements of buffers of n elements.
        launch!(
            dev,
            "dropout_f32",
            gpu::elements(n),
            &x,
            &y,
            &self.k0,
            &self.k1,
            &self.threshold,
            &self.scale,
            &n,
        );
        Ok((candle_core::CudaStorage::wrap_cuda_slice(y, dev), l.shape().clone()))
    }

    fn bwd(&self, _arg: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        // The same mask and scale on the gradient.
        Ok(Some(grad.contiguous()?.apply_op1_no_bwd(self)?))
    }
}

/// Inverted dropout with probability `p`: each element is zeroed or scaled by 1/(1-p), as
/// decided by `key` (see [`DropoutStream`]) and the element's position alone.
pub fn dropout(x: &Tensor, p: f32, key: u64) -> Result<Tensor> {
    if !(0.0..1.0).contains(&p) {
        candle_core::bail!("dropout probability has to be in [0, 1), got {p}");
    }
    if p == 0.0 {
        return Ok(x.clone());
    }
    let op = Dropout::new(p, key);
    match x.dtype() {
        DType::F32 => x.contiguous()?.apply_op1(op),
        dtype => x.to_dtype(DType::F32)?.contiguous()?.apply_op1(op)?.to_dtype(dtype),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_repeat_for_a_seed_and_differ_between_seeds() {
        let (a, b) = (DropoutStream::new(7), DropoutStream::new(7));
        let first: Vec<u64> = (0..4).map(|_| a.next_key()).collect();
        assert_eq!(first, (0..4).map(|_| b.next_key()).collect::<Vec<_>>());
        assert_eq!(first.iter().collect::<std::collections::HashSet<_>>().len(), 4);
        a.reseed(7);
        assert_eq!(a.next_key(), first[0]);
        assert_ne!(DropoutStream::new(8).next_key(), first[0]);
    }

    #[test]
    fn the_mask_drops_about_p_of_the_elements() {
        let op = Dropout::new(0.1, DropoutStream::new(3).next_key());
        let n = 200_000u32;
        let dropped = (0..n).filter(|&i| !keeps(i, op.k0, op.k1, op.threshold)).count();
        let rate = dropped as f64 / f64::from(n);
        assert!((rate - 0.1).abs() < 0.004, "drop rate {rate}");
    }
}
