//! The optimiser as SpERT sets it up: AdamW with weight decay on every weight but the biases
//! and LayerNorm weights, a learning rate that rises linearly over the warm-up steps and then
//! falls linearly to 0 (transformers' `get_linear_schedule_with_warmup`), and gradient-norm
//! clipping before each step.

use candle_core::backprop::GradStore;
use candle_core::{DType, Result, Tensor, Var};
use candle_nn::VarMap;

/// Linear warm-up to `peak` over `warmup_steps`, then linear decay to 0 at `total_steps`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LinearSchedule {
    /// The highest learning rate, reached at the end of the warm-up.
    pub peak: f64,
    /// Steps of the warm-up.
    pub warmup_steps: usize,
    /// All steps of the run.
    pub total_steps: usize,
}

impl LinearSchedule {
    /// A schedule whose warm-up covers `warmup_fraction` of `total_steps` (rounded down, as
    /// SpERT's `int(total * fraction)`).
    pub fn new(peak: f64, warmup_fraction: f64, total_steps: usize) -> Self {
        let warmup_steps = (total_steps as f64 * warmup_fraction.clamp(0.0, 1.0)) as usize;
        Self { peak, warmup_steps, total_steps }
    }

    /// The learning rate of optimiser step `step` (0-based): `peak · step / warmup` during the
    /// warm-up, then `peak · (total - step) / (total - warmup)`, never below 0.
    pub fn lr_at(&self, step: usize) -> f64 {
        if step < self.warmup_steps {
            return self.peak * step as f64 / self.warmup_steps.max(1) as f64;
        }
        let left = self.total_steps.saturating_sub(step) as f64;
        self.peak * left / self.total_steps.saturating_sub(self.warmup_steps).max(1) as f64
    }
}

/// Whether weight decay applies to a weight, by its checkpoint name: not to biases and
/// LayerNorm weights (transformers' `no_decay = ["bias", "LayerNorm.weight"]`).
pub fn decays(name: &str) -> bool {
    !(name.contains("bias") || name.contains("LayerNorm.weight"))
}

/// Global L2 norm of the gradients of `vars` and the clipping factor
/// `min(1, max_norm / (norm + 1e-6))` (PyTorch's), both f32 device scalars.
fn norm_and_scale(grads: &GradStore, vars: &[Var], max_norm: f64) -> Result<(Tensor, Tensor)> {
    let mut squares = Vec::with_capacity(vars.len());
    for var in vars {
        if let Some(g) = grads.get(var) {
            squares.push(if g.device().is_cpu() && g.dtype() == DType::F32 {
                g.contiguous()?.apply_op1_no_bwd(&SumOfSquares)?
            } else {
                g.to_dtype(DType::F32)?.sqr()?.sum_all()?
            });
        }
    }
    let device = vars.first().map_or(candle_core::Device::Cpu, |v| v.device().clone());
    if squares.is_empty() {
        return Ok((Tensor::new(0f32, &device)?, Tensor::new(1f32, &device)?));
    }
    let norm = Tensor::stack(&squares, 0)?.sum_all()?.sqrt()?;
    let scale = (norm.affine(1.0, 1e-6)?.recip()? * max_norm)?.clamp(0f32, 1f32)?;
    Ok((norm, scale))
}

/// The sum of the squares of an f32 CPU tensor's elements, a scalar: one pass, where `sqr`
/// then `sum_all` would first write a tensor as large as the gradient (the word embeddings'
/// is 11.7 M values for MiniLM, every step).
struct SumOfSquares;

impl candle_core::CustomOp1 for SumOfSquares {
    fn name(&self) -> &'static str {
        "sum-of-squares"
    }

    fn cpu_fwd(
        &self,
        s: &candle_core::CpuStorage,
        l: &candle_core::Layout,
    ) -> Result<(candle_core::CpuStorage, candle_core::Shape)> {
        let candle_core::CpuStorage::F32(x) = s else {
            candle_core::bail!("sum of squares works on f32 only");
        };
        let x = &x[contiguous(l)?];
        // Eight partial sums in f64: the loop vectorises, and millions of values lose no
        // precision worth the name.
        let mut lanes = [0f64; 8];
        let mut chunks = x.chunks_exact(8);
        for chunk in &mut chunks {
            for (lane, &v) in lanes.iter_mut().zip(chunk) {
                *lane += f64::from(v * v);
            }
        }
        let tail: f64 = chunks.remainder().iter().map(|&v| f64::from(v * v)).sum();
        let total = lanes.iter().sum::<f64>() + tail;
        Ok((candle_core::CpuStorage::F32(vec![total as f32]), candle_core::Shape::from(())))
    }
}

/// Global L2 norm of the gradients of `vars` (as one tensor, on the device), and the gradients
/// scaled by `max_norm / norm` when that norm exceeds `max_norm` (`torch.nn.utils.
/// clip_grad_norm_`). Nothing is read back to the host.
pub fn clip_grad_norm(grads: &mut GradStore, vars: &[Var], max_norm: f64) -> Result<Tensor> {
    let (norm, scale) = norm_and_scale(grads, vars, max_norm)?;
    for var in vars {
        if let Some(g) = grads.get(var) {
            let scale =
                if g.dtype() == DType::F32 { scale.clone() } else { scale.to_dtype(g.dtype())? };
            let scaled = g.broadcast_mul(&scale)?;
            grads.insert(var, scaled);
        }
    }
    Ok(norm)
}

/// One weight's AdamW state.
struct Moments {
    var: Var,
    /// Whether weight decay applies (see [`decays`]).
    decays: bool,
    state: State,
}

/// First and second moment estimates.
enum State {
    /// f32 weights: `[m, v]` in one buffer, updated in place by the fused kernels.
    Fused(Tensor),
    /// Other weights: plain tensors, replaced each step.
    Plain { m: Tensor, v: Tensor },
}

/// AdamW over two groups of weights (decayed and not, as SpERT sets up its optimiser) driven by
/// one [`LinearSchedule`], with gradient clipping. The update is PyTorch's AdamW,
/// `θ ← θ·(1 - lr·λ) - lr · m̂ / (√v̂ + ε)` with bias-corrected moments of the clipped gradient
/// (SpERT turns the correction off; with it, early steps stay small, which small models need).
/// Written for few kernel launches: on a GPU a step of a small model is bound by launches, not
/// arithmetic. With f32 weights on a GPU the whole step (norm, clipping, moments, update of
/// every weight) is three kernel launches and one small upload; elsewhere it is a few kernels
/// per weight.
pub struct Optimiser {
    weights: Vec<Moments>,
    vars: Vec<Var>,
    #[cfg(feature = "cuda")]
    multi: Option<multi::MultiTensor>,
    schedule: LinearSchedule,
    weight_decay: f64,
    max_grad_norm: f64,
    step: usize,
}

/// AdamW's β₁, β₂ and ε (transformers' defaults, as SpERT).
const BETA1: f64 = 0.9;
const BETA2: f64 = 0.999;
const EPS: f64 = 1e-6;

impl Optimiser {
    /// Sets up the optimiser over every floating-point weight of `varmap`. Weights are taken in
    /// name order, so the clipping norm adds up the same way every run.
    pub fn new(
        varmap: &VarMap,
        schedule: LinearSchedule,
        weight_decay: f64,
        max_grad_norm: f64,
    ) -> Result<Self> {
        let mut named: Vec<(String, Var)> = {
            let data = varmap
                .data()
                .lock()
                .map_err(|_| candle_core::Error::Msg("the weights' lock is poisoned".into()))?;
            data.iter()
                .filter(|(_, v)| v.dtype().is_float())
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        };
        named.sort_by(|a, b| a.0.cmp(&b.0));
        let weights = named
            .iter()
            .map(|(name, var)| {
                let state = if var.dtype() == DType::F32 {
                    State::Fused(Tensor::zeros(2 * var.elem_count(), DType::F32, var.device())?)
                } else {
                    let zeros = var.as_tensor().zeros_like()?;
                    State::Plain { m: zeros.clone(), v: zeros }
                };
                Ok(Moments { var: var.clone(), decays: decays(name), state })
            })
            .collect::<Result<Vec<_>>>()?;
        #[cfg(feature = "cuda")]
        let multi = multi::MultiTensor::new(&weights)?;
        Ok(Self {
            weights,
            #[cfg(feature = "cuda")]
            multi,
            vars: named.into_iter().map(|(_, v)| v).collect(),
            schedule,
            weight_decay,
            max_grad_norm,
            step: 0,
        })
    }

    /// Clips `grads`, updates every weight at the current learning rate and advances the
    /// schedule. Returns the gradient norm before clipping (a device scalar).
    pub fn step(&mut self, grads: GradStore) -> Result<Tensor> {
        let lr = self.schedule.lr_at(self.step);
        let t = (self.step + 1) as i32;
        let (c1, c2) = (1.0 - BETA1.powi(t), 1.0 - BETA2.powi(t));
        // lr · m̂ / (√v̂ + ε) with m̂, v̂ the bias-corrected moments, folded into scalars:
        // lr_t · m / (√v + ε_t), lr_t = lr·√(1-β₂ᵗ)/(1-β₁ᵗ), ε_t = ε·√(1-β₂ᵗ).
        let (lr_t, eps_t) = (lr * c2.sqrt() / c1, EPS * c2.sqrt());
        #[cfg(feature = "cuda")]
        if let Some(multi) = &self.multi {
            let update = (lr > 0.0).then_some(FusedUpdate {
                lr_t: lr_t as f32,
                eps_t: eps_t as f32,
                decay: (1.0 - lr * self.weight_decay) as f32,
            });
            let norm = multi.step(&grads, self.max_grad_norm as f32, update)?;
            self.step += 1;
            return Ok(norm);
        }
        let (norm, scale) = norm_and_scale(&grads, &self.vars, self.max_grad_norm)?;
        for w in &mut self.weights {
            let Some(g) = grads.get(&w.var) else { continue };
            let decay = if w.decays { 1.0 - lr * self.weight_decay } else { 1.0 };
            match &mut w.state {
                State::Fused(mv) => {
                    if g.elem_count() == 0 {
                        continue;
                    }
                    let g = g.contiguous()?;
                    mv.inplace_op3(
                        &g,
                        &scale,
                        &FusedMoments { b1: BETA1 as f32, b2: BETA2 as f32 },
                    )?;
                    if lr > 0.0 {
                        let update = FusedUpdate {
                            lr_t: lr_t as f32,
                            eps_t: eps_t as f32,
                            decay: decay as f32,
                        };
                        w.var.as_tensor().inplace_op2(mv, &update)?;
                    }
                }
                State::Plain { m, v } => {
                    let g = g.broadcast_mul(&scale.to_dtype(g.dtype())?)?;
                    *m = ((&*m * BETA1)? + (&g * (1.0 - BETA1))?)?;
                    *v = ((&*v * BETA2)? + (g.sqr()? * (1.0 - BETA2))?)?;
                    if lr > 0.0 {
                        // lr_t moved into the denominator: no kernel scales the update.
                        let update = (&*m / v.sqrt()?.affine(1.0 / lr_t, eps_t / lr_t)?)?;
                        let next = (w.var.as_tensor().affine(decay, 0.0)? - update)?;
                        w.var.set(&next)?;
                    }
                }
            }
        }
        self.step += 1;
        Ok(norm)
    }

    /// Advances the schedule without updating any weight (a batch with nothing to learn).
    pub fn skip(&mut self) {
        self.step += 1;
    }

    /// Steps taken so far.
    pub fn steps_taken(&self) -> usize {
        self.step
    }

    /// The learning rate the next step will use.
    pub fn learning_rate(&self) -> f64 {
        self.schedule.lr_at(self.step)
    }
}

/// The PTX of `adamw.cu`, compiled by build.rs, and the name candle caches its module under.
#[cfg(feature = "cuda")]
const ADAMW_PTX: &str = include_str!(concat!(env!("OUT_DIR"), "/adamw.ptx"));
#[cfg(feature = "cuda")]
const ADAMW_MODULE: &str = "spanscope_adamw";
#[cfg(feature = "cuda")]
use crate::model::fused::launch;

fn contiguous(layout: &candle_core::Layout) -> Result<std::ops::Range<usize>> {
    layout
        .contiguous_offsets()
        .map(|(start, end)| start..end)
        .ok_or_else(|| candle_core::Error::Msg("fused AdamW needs contiguous tensors".into()))
}

/// In place on `[m, v]`, given the gradient and the clipping factor (a one-value tensor):
/// `m = β₁·m + (1-β₁)·g·s`, `v = β₂·v + (1-β₂)·(g·s)²`. One kernel per weight.
struct FusedMoments {
    b1: f32,
    b2: f32,
}

impl candle_core::InplaceOp3 for FusedMoments {
    fn name(&self) -> &'static str {
        "adamw-moments"
    }

    fn cpu_fwd(
        &self,
        s1: &mut candle_core::CpuStorage,
        l1: &candle_core::Layout,
        s2: &candle_core::CpuStorage,
        l2: &candle_core::Layout,
        s3: &candle_core::CpuStorage,
        l3: &candle_core::Layout,
    ) -> Result<()> {
        use candle_core::CpuStorage::F32;
        let (F32(mv), F32(g), F32(scale)) = (s1, s2, s3) else {
            candle_core::bail!("fused AdamW works on f32 only");
        };
        let (g, s) = (&g[contiguous(l2)?], scale[contiguous(l3)?.start]);
        let mv = &mut mv[contiguous(l1)?];
        if mv.len() != 2 * g.len() {
            candle_core::bail!("AdamW state of {} values for {} gradients", mv.len(), g.len());
        }
        let (m, v) = mv.split_at_mut(g.len());
        for ((m, v), g) in m.iter_mut().zip(v.iter_mut()).zip(g) {
            let gs = g * s;
            *m = self.b1 * *m + (1.0 - self.b1) * gs;
            *v = self.b2 * *v + (1.0 - self.b2) * gs * gs;
        }
        Ok(())
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        s1: &mut candle_core::CudaStorage,
        l1: &candle_core::Layout,
        s2: &candle_core::CudaStorage,
        l2: &candle_core::Layout,
        s3: &candle_core::CudaStorage,
        l3: &candle_core::Layout,
    ) -> Result<()> {
        use candle_core::backend::BackendStorage;
        use candle_core::cuda_backend::cudarc::driver::LaunchConfig;
        let dev = s1.device().clone();
        let (r1, r2, r3) = (contiguous(l1)?, contiguous(l2)?, contiguous(l3)?);
        let n = r2.len();
        if r1.len() != 2 * n {
            candle_core::bail!("AdamW state of {} values for {n} gradients", r1.len());
        }
        let g = s2.as_cuda_slice::<f32>()?.slice(r2);
        let scale = s3.as_cuda_slice::<f32>()?.slice(r3);
        let mut mv = s1.as_cuda_slice_mut::<f32>()?.slice_mut(r1);
        let n32 = n as u32;
        // SAFETY: the kernel reads n values of g, one of scale, and writes 2n of mv, as sized.
        launch!(
            in ADAMW_MODULE, ADAMW_PTX;
            dev, "adamw_moments", LaunchConfig::for_num_elems(n32),
            &mut mv, &g, &scale, &self.b1, &self.b2, &n32,
        );
        Ok(())
    }
}

/// In place on a weight, given its `[m, v]`: `θ = θ·decay - lr_t·m / (√v + ε_t)`.
#[derive(Clone, Copy)]
struct FusedUpdate {
    lr_t: f32,
    eps_t: f32,
    decay: f32,
}

impl candle_core::InplaceOp2 for FusedUpdate {
    fn name(&self) -> &'static str {
        "adamw-update"
    }

    fn cpu_fwd(
        &self,
        s1: &mut candle_core::CpuStorage,
        l1: &candle_core::Layout,
        s2: &candle_core::CpuStorage,
        l2: &candle_core::Layout,
    ) -> Result<()> {
        use candle_core::CpuStorage::F32;
        let (F32(theta), F32(mv)) = (s1, s2) else {
            candle_core::bail!("fused AdamW works on f32 only");
        };
        let theta = &mut theta[contiguous(l1)?];
        let mv = &mv[contiguous(l2)?];
        if mv.len() != 2 * theta.len() {
            candle_core::bail!("AdamW state of {} values for {} weights", mv.len(), theta.len());
        }
        let (m, v) = mv.split_at(theta.len());
        for ((t, m), v) in theta.iter_mut().zip(m).zip(v) {
            *t = *t * self.decay - self.lr_t * m / (v.sqrt() + self.eps_t);
        }
        Ok(())
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        s1: &mut candle_core::CudaStorage,
        l1: &candle_core::Layout,
        s2: &candle_core::CudaStorage,
        l2: &candle_core::Layout,
    ) -> Result<()> {
        use candle_core::backend::BackendStorage;
        use candle_core::cuda_backend::cudarc::driver::LaunchConfig;
        let dev = s1.device().clone();
        let (r1, r2) = (contiguous(l1)?, contiguous(l2)?);
        let n = r1.len();
        if r2.len() != 2 * n {
            candle_core::bail!("AdamW state of {} values for {n} weights", r2.len());
        }
        let mv = s2.as_cuda_slice::<f32>()?.slice(r2);
        let mut theta = s1.as_cuda_slice_mut::<f32>()?.slice_mut(r1);
        let n32 = n as u32;
        // SAFETY: the kernel reads 2n values of mv and updates the n of theta, as sized.
        launch!(
            in ADAMW_MODULE, ADAMW_PTX;
            dev, "adamw_update", LaunchConfig::for_num_elems(n32),
            &mut theta, &mv, &self.lr_t, &self.eps_t, &self.decay, &n32,
        );
        Ok(())
    }
}

/// The multi-tensor path of [`Optimiser`] on a GPU (the `mt_*` kernels of adamw.cu).
#[cfg(feature = "cuda")]
mod multi {
    use candle_core::backprop::GradStore;
    use candle_core::cuda_backend::cudarc::driver::{CudaSlice, DevicePtr};
    use candle_core::cuda_backend::cudarc::driver::{CudaStream, LaunchConfig};
    use candle_core::{CudaDevice, DType, Device, Result, Storage, Tensor, Var};

    use super::{launch, FusedUpdate, Moments, State, ADAMW_MODULE, ADAMW_PTX, BETA1, BETA2};

    /// Elements one block handles.
    const CHUNK: u32 = 1 << 16;
    const THREADS: u32 = 256;

    /// Tables of every weight's address, moments' address, size and decay flag, built once
    /// (the weights and moments stay where they are), and the chunking of the work.
    pub(super) struct MultiTensor {
        dev: CudaDevice,
        vars: Vec<Var>,
        thetas: CudaSlice<u64>,
        moments: CudaSlice<u64>,
        sizes: CudaSlice<u32>,
        decays: CudaSlice<u32>,
        chunk_tensor: CudaSlice<u32>,
        chunk_start: CudaSlice<u32>,
        chunks: u32,
        partials: CudaSlice<f32>,
        /// `[‖g‖, clipping factor]` of the last step.
        norm: Tensor,
        /// Keeps the moments alive (and their addresses valid) as long as the tables.
        _states: Vec<Tensor>,
    }

    /// The device address of a contiguous f32 tensor on the GPU.
    fn address(t: &Tensor, stream: &CudaStream) -> Result<u64> {
        let (storage, layout) = t.storage_and_layout();
        let Storage::Cuda(s) = &*storage else {
            candle_core::bail!("multi-tensor AdamW: a tensor is not on the GPU");
        };
        let (start, end) = layout.contiguous_offsets().ok_or_else(|| {
            candle_core::Error::Msg("multi-tensor AdamW needs contiguous tensors".into())
        })?;
        let view = s.as_cuda_slice::<f32>()?.slice(start..end);
        let (ptr, _sync) = view.device_ptr(stream);
        Ok(ptr)
    }

    impl MultiTensor {
        /// The tables for `weights`, or `None` unless every weight is f32 on one GPU (and each
        /// fits the kernels' 32-bit indices).
        pub(super) fn new(weights: &[Moments]) -> Result<Option<Self>> {
            let Some(Device::Cuda(dev)) = weights.first().map(|w| w.var.device().clone()) else {
                return Ok(None);
            };
            let fits = weights.iter().all(|w| {
                matches!(w.state, State::Fused(_))
                    && w.var.dtype() == DType::F32
                    && w.var.device().same_device(&Device::Cuda(dev.clone()))
                    && w.var.elem_count() < (u32::MAX / 2) as usize
            });
            if !fits {
                return Ok(None);
            }
            let stream = dev.cuda_stream();
            let (mut thetas, mut moments, mut states) = (Vec::new(), Vec::new(), Vec::new());
            let (mut sizes, mut decays) = (Vec::new(), Vec::new());
            let (mut chunk_tensor, mut chunk_start) = (Vec::new(), Vec::new());
            for (i, w) in weights.iter().enumerate() {
                let State::Fused(mv) = &w.state else { unreachable!("checked above") };
                let theta = w.var.as_tensor();
                if !theta.is_contiguous() {
                    return Ok(None);
                }
                thetas.push(address(theta, &stream)?);
                moments.push(address(mv, &stream)?);
                states.push(mv.clone());
                let n = w.var.elem_count() as u32;
                sizes.push(n);
                decays.push(u32::from(w.decays));
                for start in (0..n.max(1)).step_by(CHUNK as usize) {
                    chunk_tensor.push(i as u32);
                    chunk_start.push(start);
                }
            }
            let chunks = chunk_tensor.len() as u32;
            Ok(Some(Self {
                thetas: dev.clone_htod(&thetas)?,
                moments: dev.clone_htod(&moments)?,
                sizes: dev.clone_htod(&sizes)?,
                decays: dev.clone_htod(&decays)?,
                chunk_tensor: dev.clone_htod(&chunk_tensor)?,
                chunk_start: dev.clone_htod(&chunk_start)?,
                chunks,
                partials: dev.alloc_zeros::<f32>(chunks as usize)?,
                norm: Tensor::zeros(2, DType::F32, &Device::Cuda(dev.clone()))?,
                vars: weights.iter().map(|w| w.var.clone()).collect(),
                _states: states,
                dev,
            }))
        }

        /// Clips, updates the moments and (with `update`) the weights; returns ‖g‖.
        pub(super) fn step(
            &self,
            grads: &GradStore,
            max_norm: f32,
            update: Option<FusedUpdate>,
        ) -> Result<Tensor> {
            let stream = self.dev.cuda_stream();
            let mut held = Vec::with_capacity(self.vars.len());
            let mut addresses = Vec::with_capacity(self.vars.len());
            for var in &self.vars {
                match grads.get(var) {
                    Some(g) if g.elem_count() > 0 => {
                        let g = g.to_dtype(DType::F32)?.contiguous()?;
                        addresses.push(address(&g, &stream)?);
                        held.push(g);
                    }
                    _ => addresses.push(0),
                }
            }
            // The gradients in `held` live until the kernels are queued; their memory is freed
            // in stream order, after the kernels ran.
            let grad_table = self.dev.clone_htod(&addresses)?;
            let norm_ptr = {
                let (storage, _) = self.norm.storage_and_layout();
                let Storage::Cuda(s) = &*storage else { unreachable!("made on the GPU") };
                let (ptr, _sync) = s.as_cuda_slice::<f32>()?.device_ptr(&stream);
                ptr
            };
            let blocks = LaunchConfig {
                grid_dim: (self.chunks, 1, 1),
                block_dim: (THREADS, 1, 1),
                shared_mem_bytes: 0,
            };
            let one = LaunchConfig {
                grid_dim: (1, 1, 1),
                block_dim: (THREADS, 1, 1),
                shared_mem_bytes: 0,
            };
            let (b1, b2) = (BETA1 as f32, BETA2 as f32);
            let u = update.unwrap_or(FusedUpdate { lr_t: 0.0, eps_t: 1.0, decay: 1.0 });
            let on = u32::from(update.is_some());
            // SAFETY: every address in the tables points at a live f32 buffer of the size in
            // `sizes` (weights and moments owned by the optimiser, gradients held above);
            // partials has one slot per chunk.
            launch!(
                in ADAMW_MODULE, ADAMW_PTX;
                self.dev, "mt_sumsq", blocks,
                &grad_table, &self.sizes, &self.chunk_tensor, &self.chunk_start, &CHUNK,
                &self.partials,
            );
            // SAFETY: reads `chunks` partials, writes the two floats of `self.norm`.
            launch!(
                in ADAMW_MODULE, ADAMW_PTX;
                self.dev, "mt_norm", one,
                &self.partials, &self.chunks, &max_norm, &norm_ptr,
            );
            // SAFETY: as for mt_sumsq; each moment buffer holds twice its weight's size.
            launch!(
                in ADAMW_MODULE, ADAMW_PTX;
                self.dev, "mt_adamw", blocks,
                &self.thetas, &self.moments, &grad_table, &self.sizes, &self.decays,
                &self.chunk_tensor, &self.chunk_start, &CHUNK, &norm_ptr, &b1, &b2, &u.lr_t,
                &u.eps_t, &u.decay, &on,
            );
            drop(held);
            self.norm.get(0)?.copy()
        }
    }
}
