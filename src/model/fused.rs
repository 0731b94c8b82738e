//! Fused training operations with their own backward passes: dropout, layer norm, erf GELU,
//! linear layers (optionally split into attention heads), attention probabilities, max over
//! ranges of positions, f_a's per-query statistics, cross-entropy and binary cross-entropy;
//! and two inference-only steps (bias + residual + layer norm, bias + GELU).
//!
//! Composed from candle's elementary ops, a training step's layer norm is 11 kernels forward
//! and about 30 backward, a softmax 5 and 12, a dropout 4 and 3; and in candle's backward pass
//! every node of the graph, views included, costs two more (a zero gradient and an add). The
//! step is bound by kernel launches and host work, not arithmetic (docs/BENCHMARKS.md). Here
//! each is one graph node, with one to three kernels forward and backward, on the CPU and,
//! with the `cuda` feature, on the GPU (src/model/fused.cu; matrix products through candle's
//! storage, i.e. cuBLAS and gemm).
//!
//! Dropout draws its mask from a counter-based hash of the element's index and a 64-bit key
//! instead of a random-number generator's state: the backward pass recomputes the mask instead
//! of storing it, the mask is the same on the CPU and the GPU, and a [`DropoutStream`] seeded
//! from the training seed makes a run repeatable on either (candle's CPU dropout cannot be
//! seeded).
//!
//! Only f32 has kernels; other dtypes take candle's composed ops or are computed in f32.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use candle_core::backend::{BackendDevice, BackendStorage};
use candle_core::{CpuStorage, CustomOp1, CustomOp2, CustomOp3, DType, Layout, Result, Shape};
use candle_core::{Storage, Tensor, WithDType, D};

#[cfg(feature = "cuda")]
const PTX: &str = include_str!(concat!(env!("OUT_DIR"), "/fused.ptx"));
#[cfg(feature = "cuda")]
const MODULE: &str = "spanscope_fused";

/// Launches a kernel of spanscope's own PTX with launch configuration `$cfg` and the arguments
/// in order: buffers and views of the device, and scalars, all by reference. `in MODULE, PTX;`
/// names the module (elsewhere than here: the AdamW kernels); without it, fused.cu's.
#[cfg(feature = "cuda")]
macro_rules! launch {
    (in $module:expr, $ptx:expr; $dev:expr, $name:expr, $cfg:expr, $($arg:expr),+ $(,)?) => {{
        use candle_core::cuda_backend::cudarc::driver::PushKernelArg;
        use candle_core::cuda_backend::WrapErr;
        let func = $dev.get_or_load_custom_func($name, $module, $ptx)?;
        let mut builder = func.builder();
        $(builder.arg($arg);)+
        // SAFETY: each call site checks that the buffers hold what the kernel reads and
        // writes (its comment says what).
        unsafe { builder.launch($cfg) }.w()?;
    }};
    ($dev:expr, $name:expr, $cfg:expr, $($arg:expr),+ $(,)?) => {
        launch!(in MODULE, PTX; $dev, $name, $cfg, $($arg),+)
    };
}
#[cfg(feature = "cuda")]
pub(crate) use launch;

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

/// Gradients of weights that the fused linear and layer-norm nodes hand over directly instead of
/// returning them to candle's backward pass, which would first add each to a fresh zero tensor
/// (two more kernels a weight, a fifth of a training step's backward pass). Off unless a training
/// loop turns it on; it then merges them into the `GradStore` after each `backward()` with
/// [`WeightGrads::merge_into`]. Clones share one store.
#[derive(Debug, Clone, Default)]
pub struct WeightGrads(Arc<WeightGradsInner>);

#[derive(Debug, Default)]
struct WeightGradsInner {
    on: AtomicBool,
    grads: Mutex<Vec<(Tensor, Tensor)>>,
}

impl WeightGrads {
    /// Starts (or stops) collecting; either way forgets what was collected.
    pub fn set_collecting(&self, on: bool) -> Result<()> {
        self.0.on.store(on, Ordering::SeqCst);
        self.lock()?.clear();
        Ok(())
    }

    /// Whether the fused nodes hand their weights' gradients here.
    pub fn is_collecting(&self) -> bool {
        self.0.on.load(Ordering::SeqCst)
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, Vec<(Tensor, Tensor)>>> {
        self.0
            .grads
            .lock()
            .map_err(|_| candle_core::Error::Msg("weight gradients lock poisoned".into()))
    }

    /// Adds `grad` to the gradient of `weight` (a weight used twice gets the sum).
    fn deposit(&self, weight: &Tensor, grad: Tensor) -> Result<()> {
        let mut grads = self.lock()?;
        match grads.iter_mut().find(|(w, _)| w.id() == weight.id()) {
            Some((_, g)) => *g = (&*g + grad)?,
            None => grads.push((weight.clone(), grad)),
        }
        Ok(())
    }

    /// Adds `dw` and `db` to the gradients of a node's weight and bias.
    pub(crate) fn deposit_pair(
        &self,
        (w, b): (&Tensor, &Tensor),
        dw: Tensor,
        db: Tensor,
    ) -> Result<()> {
        self.deposit(w, dw)?;
        self.deposit(b, db)
    }

    /// Moves every collected gradient into `store` (adding to one already there).
    pub fn merge_into(&self, store: &mut candle_core::backprop::GradStore) -> Result<()> {
        for (weight, grad) in self.lock()?.drain(..) {
            let grad = match store.get(&weight) {
                Some(existing) => (existing + grad)?,
                None => grad,
            };
            store.insert(&weight, grad);
        }
        Ok(())
    }

    /// The collector to hand a node's weight and bias gradients to: when collecting, and both
    /// are trained, contiguous tensors. Gradients are keyed by the tensors' ids, so the node must
    /// see the `Var`s themselves (which are contiguous), not copies.
    pub(crate) fn for_params(this: Option<&Self>, weight: &Tensor, bias: &Tensor) -> Option<Self> {
        let own = |t: &Tensor| t.is_variable() && t.is_contiguous();
        this.filter(|g| g.is_collecting() && own(weight) && own(bias)).cloned()
    }
}

/// A weighted node's gradients `(dx, dw, db)` for candle's backward pass: the weight's and the
/// bias's handed to `sink` when there is one (it collects), all three returned otherwise.
#[allow(clippy::type_complexity)]
fn node_grads(
    sink: Option<&WeightGrads>,
    (w, b): (&Tensor, &Tensor),
    (dx, dw, db): (Tensor, Tensor, Tensor),
) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
    match sink {
        Some(sink) => {
            sink.deposit_pair((w, b), dw, db)?;
            Ok((Some(dx), None, None))
        }
        None => Ok((Some(dx), Some(dw), Some(db))),
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

/// The values of a contiguous CPU tensor of element type `T` (f32 values, u32 bounds and labels).
fn contiguous<'a, T: WithDType>(s: &'a CpuStorage, l: &Layout, op: &str) -> Result<&'a [T]> {
    let values = T::cpu_storage_as_slice(s)
        .map_err(|_| candle_core::Error::Msg(format!("{op}: {:?} tensors only", T::DTYPE)))?;
    Ok(&values[start_end(l, op)?])
}

/// The element range of a contiguous layout.
fn start_end(l: &Layout, op: &str) -> Result<std::ops::Range<usize>> {
    l.contiguous_offsets()
        .map(|(start, end)| start..end)
        .ok_or_else(|| candle_core::Error::Msg(format!("{op}: needs a contiguous tensor")))
}

fn rows_cols(l: &Layout) -> Result<(usize, usize)> {
    let cols = l.dims().last().copied().unwrap_or(1);
    if cols == 0 {
        candle_core::bail!("an empty last dimension");
    }
    Ok((l.shape().elem_count() / cols, cols))
}

fn same_shape(a: &Layout, b: &Layout, op: &str) -> Result<()> {
    if a.shape() != b.shape() {
        candle_core::bail!("{op}: shapes {:?} and {:?} differ", a.dims(), b.dims());
    }
    Ok(())
}

fn count_u32(n: usize, op: &str) -> Result<u32> {
    u32::try_from(n).map_err(|_| candle_core::Error::Msg(format!("{op}: {n} elements is too many")))
}

/// `f` of the storages and layouts of `N` tensors held outside a node's arguments (parameters,
/// saved outputs), each the backend storage that `pick` takes from it; an error names `op`
/// when a tensor is on another device.
fn with_storages<const N: usize, S, R>(
    ts: [&Tensor; N],
    op: &str,
    pick: impl Fn(&Storage) -> Option<&S>,
    f: impl FnOnce([(&S, &Layout); N]) -> Result<R>,
) -> Result<R> {
    let guards = ts.map(|t| t.storage_and_layout());
    let picked = guards.iter().map(|(storage, layout)| {
        let s = pick(storage).ok_or_else(|| {
            candle_core::Error::Msg(format!("{op}: tensors on different devices"))
        })?;
        Ok((s, *layout))
    });
    f(array_of(picked, op)?)
}

/// `N` results as an array, or the first error; an error names `op`.
fn array_of<T, const N: usize>(
    items: impl IntoIterator<Item = Result<T>>,
    op: &str,
) -> Result<[T; N]> {
    let items: Vec<T> = items.into_iter().collect::<Result<_>>()?;
    items.try_into().map_err(|_| candle_core::Error::Msg(format!("{op}: {N} tensors expected")))
}

/// The CPU storage of a [`Storage`], for [`with_storages`].
pub(crate) fn cpu_storage(s: &Storage) -> Option<&CpuStorage> {
    match s {
        Storage::Cpu(s) => Some(s),
        _ => None,
    }
}

/// `f` of the values of `N` contiguous f32 tensors held outside a node's arguments (parameters,
/// saved outputs), on the CPU.
fn cpu_values<const N: usize, R>(
    ts: [&Tensor; N],
    op: &str,
    f: impl FnOnce([&[f32]; N]) -> Result<R>,
) -> Result<R> {
    with_storages(ts, op, cpu_storage, |storages| {
        f(array_of(storages.into_iter().map(|(s, layout)| contiguous::<f32>(s, layout, op)), op)?)
    })
}

/// `f(a, b)` for each pair of elements of two same-shape contiguous f32 CPU tensors.
fn cpu_map2(
    op: &str,
    (s1, l1): (&CpuStorage, &Layout),
    (s2, l2): (&CpuStorage, &Layout),
    f: impl Fn(f32, f32) -> f32,
) -> Result<(CpuStorage, Shape)> {
    same_shape(l1, l2, op)?;
    let (a, b) = (contiguous::<f32>(s1, l1, op)?, contiguous::<f32>(s2, l2, op)?);
    let y = a.iter().zip(b).map(|(&a, &b)| f(a, b)).collect();
    Ok((CpuStorage::F32(y), l1.shape().clone()))
}

#[cfg(feature = "cuda")]
pub(crate) mod gpu {
    use candle_core::cuda_backend::cudarc::driver::{CudaSlice, CudaView, LaunchConfig};
    use candle_core::cuda_backend::CudaDType;
    use candle_core::{CudaDevice, CudaStorage, Layout, Result};

    /// The elements of a contiguous GPU tensor of element type `T`.
    pub fn view<'a, T: CudaDType>(
        s: &'a CudaStorage,
        l: &Layout,
        op: &str,
    ) -> Result<CudaView<'a, T>> {
        Ok(s.as_cuda_slice::<T>()?.slice(super::start_end(l, op)?))
    }

    /// Rows and columns (the last dimension) for a kernel's u32 arguments.
    pub fn rows_cols(l: &Layout, op: &str) -> Result<(u32, u32)> {
        let (rows, cols) = super::rows_cols(l)?;
        Ok((super::count_u32(rows, op)?, super::count_u32(cols, op)?))
    }

    pub fn alloc(dev: &CudaDevice, n: usize) -> Result<CudaSlice<f32>> {
        // SAFETY: every kernel of fused.cu writes each element of its output.
        unsafe { dev.alloc::<f32>(n) }
    }

    /// A grid-stride elementwise launch.
    pub fn elements(n: u32) -> LaunchConfig {
        LaunchConfig {
            grid_dim: (n.div_ceil(256).clamp(1, 65_535), 1, 1),
            block_dim: (256, 1, 1),
            shared_mem_bytes: 0,
        }
    }

    /// One warp a row, eight rows a block.
    pub fn rows(rows: u32) -> LaunchConfig {
        LaunchConfig {
            grid_dim: (rows.div_ceil(8).max(1), 1, 1),
            block_dim: (32, 8, 1),
            shared_mem_bytes: 0,
        }
    }

    /// The CUDA storage of a [`candle_core::Storage`], for [`super::with_storages`].
    pub fn cuda_storage(s: &candle_core::Storage) -> Option<&CudaStorage> {
        match s {
            candle_core::Storage::Cuda(s) => Some(s),
            _ => None,
        }
    }

    /// [`super::cpu_values`] on the GPU: views of `N` contiguous f32 tensors.
    pub fn values<const N: usize, R>(
        ts: [&candle_core::Tensor; N],
        op: &str,
        f: impl for<'a> FnOnce([CudaView<'a, f32>; N]) -> Result<R>,
    ) -> Result<R> {
        super::with_storages(ts, op, cuda_storage, |storages| {
            f(super::array_of(
                storages.into_iter().map(|(s, layout)| view::<f32>(s, layout, op)),
                op,
            )?)
        })
    }

    /// fused.cu's elementwise `kernel(a, b, out, n)` over two same-shape contiguous f32 GPU
    /// tensors.
    pub fn map2(
        op: &str,
        kernel: &str,
        (s1, l1): (&CudaStorage, &Layout),
        (s2, l2): (&CudaStorage, &Layout),
    ) -> Result<(CudaStorage, candle_core::Shape)> {
        use super::{MODULE, PTX};
        use candle_core::backend::BackendStorage;
        super::same_shape(l1, l2, op)?;
        let dev = s1.device().clone();
        let (a, b) = (view::<f32>(s1, l1, op)?, view::<f32>(s2, l2, op)?);
        let n = super::count_u32(a.len(), op)?;
        let y = alloc(&dev, a.len())?;
        // SAFETY: three buffers of n elements.
        launch!(dev, kernel, elements(n), &a, &b, &y, &n);
        Ok((CudaStorage::wrap_cuda_slice(y, dev), l1.shape().clone()))
    }
}

// ----------------------------------------------------------------------------------------------
// Dropout

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

// ----------------------------------------------------------------------------------------------
// The gradient of a softmax

/// (y, dy) → dx = scale · y · (dy − Σ dy·y), row by row: the gradient of softmax(scale · x).
struct SoftmaxBwd {
    scale: f32,
}

impl CustomOp2 for SoftmaxBwd {
    fn name(&self) -> &'static str {
        "spanscope-softmax-bwd"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        same_shape(l1, l2, self.name())?;
        let (y, dy) =
            (contiguous::<f32>(s1, l1, self.name())?, contiguous::<f32>(s2, l2, self.name())?);
        let (_, cols) = rows_cols(l1)?;
        let mut dx = Vec::with_capacity(y.len());
        for (yr, gr) in y.chunks(cols).zip(dy.chunks(cols)) {
            let dot: f32 = yr.iter().zip(gr).map(|(a, b)| a * b).sum();
            dx.extend(yr.iter().zip(gr).map(|(a, b)| self.scale * a * (b - dot)));
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
    ) -> Result<(candle_core::CudaStorage, Shape)> {
        same_shape(l1, l2, self.name())?;
        let dev = s1.device().clone();
        let (y, dy) =
            (gpu::view::<f32>(s1, l1, self.name())?, gpu::view::<f32>(s2, l2, self.name())?);
        let (rows, cols) = gpu::rows_cols(l1, self.name())?;
        let dx = gpu::alloc(&dev, y.len())?;
        // SAFETY: three buffers of rows · cols elements.
        launch!(dev, "softmax_bwd_f32", gpu::rows(rows), &y, &dy, &dx, &rows, &cols, &self.scale);
        Ok((candle_core::CudaStorage::wrap_cuda_slice(dx, dev), l1.shape().clone()))
    }
}

// ----------------------------------------------------------------------------------------------
// Layer norm

#[derive(Debug, Clone)]
struct LayerNorm {
    eps: f32,
    sink: Option<WeightGrads>,
}

/// Mean and 1/√(var + ε) of one row, as fused.cu computes them.
fn row_stats(row: &[f32], eps: f32) -> (f32, f32) {
    let n = row.len() as f32;
    let mean = row.iter().sum::<f32>() / n;
    let var = row.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / n;
    (mean, 1.0 / (var + eps).sqrt())
}

fn check_params(x: &Layout, w: &Layout, b: Option<&Layout>, op: &str) -> Result<()> {
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
    let mean = x.mean_keepdim(D::Minus1)?;
    let centred = x.broadcast_sub(&mean)?;
    let var = centred.sqr()?.mean_keepdim(D::Minus1)?;
    centred.broadcast_div(&(var + eps)?.sqrt()?)?.broadcast_mul(w)?.broadcast_add(b)
}

/// The sum of the rows of a `[rows, cols]` matrix, `[cols]` (bias and layer-norm weight
/// gradients). On the CPU as a product with a row of ones: candle's CPU sum over the first
/// dimension walks the matrix column by column, 50-60 times slower than the product for the
/// shapes of a training step (1.2 ms against 19 µs for `[200, 1536]`, one thread).
pub(crate) fn column_sums(m: &Tensor) -> Result<Tensor> {
    if m.device().is_cpu() {
        Tensor::ones((1, m.dim(0)?), m.dtype(), m.device())?.matmul(m)?.squeeze(0)
    } else {
        m.sum(0)
    }
}

// ----------------------------------------------------------------------------------------------
// GELU (erf)

#[derive(Debug, Clone, Copy)]
struct Gelu;

const FRAC_1_SQRT_2: f32 = std::f32::consts::FRAC_1_SQRT_2;
/// 1/√(2π)
const FRAC_1_SQRT_2PI: f32 = 0.398_942_3;

/// Where [`erf`] saturates: erf(3.92) = 1 - 5e-8 rounds to 1 in f32.
const ERF_SATURATES: f32 = 3.92;
/// [`erf`] = x·P(x²)/Q(x²): a weighted least-squares fit to erf on [0, 4] (spanscope's own,
/// fitted with numpy in f64, absolute error 1.5e-9 before f32 rounding).
const ERF_P: [f32; 7] = [
    std::f32::consts::FRAC_2_SQRT_PI,
    0.184_711_89,
    0.054_332_916,
    0.003_839_610_1,
    0.000_382_698_66,
    4.780_657e-6,
    -1.366_743_5e-8,
];
const ERF_Q: [f32; 6] =
    [1.0, 0.497_030_2, 0.113_827_05, 0.015_453_696, 0.001_309_604_7, 6.401_046e-5];

/// The error function in f32, absolute error below 4e-7 (3.95e-7 at worst, near ±3.5; a few
/// ulp, where libm's `erff` is within one but is a scalar call with branches). Without
/// branches the GELU loops vectorise: 1.3 ns an element against 8.7 for candle's GELU on
/// this development machine's CPU. NaN stays NaN.
#[inline(always)]
fn erf(x: f32) -> f32 {
    let x = x.clamp(-ERF_SATURATES, ERF_SATURATES);
    let t = x * x;
    let p = ERF_P.iter().rev().fold(0.0, |acc, &c| acc * t + c);
    let q = ERF_Q.iter().rev().fold(0.0, |acc, &c| acc * t + c);
    (x * p / q).clamp(-1.0, 1.0)
}

/// Φ(x), the standard normal distribution function: GELU(x) = x·Φ(x).
#[inline(always)]
fn normal_cdf(x: f32) -> f32 {
    0.5 * (1.0 + erf(x * FRAC_1_SQRT_2))
}

impl CustomOp1 for Gelu {
    fn name(&self) -> &'static str {
        "spanscope-gelu"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = contiguous::<f32>(s, l, self.name())?;
        let y = x.iter().map(|&v| v * normal_cdf(v)).collect();
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
        // SAFETY: n elements read and written.
        launch!(dev, "gelu_f32", gpu::elements(n), &x, &y, &n);
        Ok((candle_core::CudaStorage::wrap_cuda_slice(y, dev), l.shape().clone()))
    }

    fn bwd(&self, arg: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        Ok(Some(gelu_grad(arg, grad)?))
    }
}

/// The gradient of the f32 erf GELU at `x` for the output gradient `dy`, without a graph.
pub(crate) fn gelu_grad(x: &Tensor, dy: &Tensor) -> Result<Tensor> {
    x.detach().contiguous()?.apply_op2_no_bwd(&dy.detach().contiguous()?, &GeluBwd)
}

/// (x, dy) → dy · (Φ(x) + x·φ(x)).
struct GeluBwd;

impl CustomOp2 for GeluBwd {
    fn name(&self) -> &'static str {
        "spanscope-gelu-bwd"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        cpu_map2(self.name(), (s1, l1), (s2, l2), |v, g| {
            g * (normal_cdf(v) + v * FRAC_1_SQRT_2PI * (-0.5 * v * v).exp())
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
        gpu::map2(self.name(), "gelu_bwd_f32", (s1, l1), (s2, l2))
    }
}

/// GELU with the erf (not the tanh approximation); f32 through the fused kernels, other dtypes
/// through candle's.
pub fn gelu_erf(x: &Tensor) -> Result<Tensor> {
    if x.dtype() == DType::F32 {
        x.contiguous()?.apply_op1(Gelu)
    } else {
        x.gelu_erf()
    }
}

// ----------------------------------------------------------------------------------------------
// Linear layers

fn start_of(l: &Layout, op: &str) -> Result<usize> {
    Ok(start_end(l, op)?.start)
}

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

// ----------------------------------------------------------------------------------------------
// Attention probabilities

/// Raw scores `q·kᵀ`, `[B·heads, T, T]`, of contiguous `[B, heads, T, d]` queries and keys.
fn scores_storage<S: BackendStorage>(
    q: &S,
    lq: &Layout,
    k: &S,
    lk: &Layout,
    op: &str,
) -> Result<(S, (usize, usize, usize))> {
    let (batch, heads, t, d) = lq.shape().dims4()?;
    if lk.dims() != lq.dims() {
        candle_core::bail!("{op}: queries {:?}, keys {:?}", lq.dims(), lk.dims());
    }
    let bh = batch * heads;
    let q_layout = Layout::contiguous_with_offset((bh, t, d), start_of(lq, op)?);
    let k_layout = Layout::contiguous_with_offset((bh, t, d), start_of(lk, op)?).transpose(1, 2)?;
    Ok((q.matmul(k, (bh, t, t, d), &q_layout, &k_layout)?, (batch, heads, t)))
}

/// softmax(q·kᵀ · scale + mask) with `mask` `[B, T]` additive over keys.
#[derive(Debug, Clone, Copy)]
struct AttentionProbs {
    scale: f32,
}

impl CustomOp3 for AttentionProbs {
    fn name(&self) -> &'static str {
        "spanscope-attention-probs"
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
        let (scores, (batch, heads, t)) = scores_storage(s1, l1, s2, l2, self.name())?;
        let mask = contiguous::<f32>(s3, l3, self.name())?;
        if mask.len() != batch * t {
            candle_core::bail!("{}: mask of {} for {batch} x {t} keys", self.name(), mask.len());
        }
        let CpuStorage::F32(mut y) = scores else {
            candle_core::bail!("{}: f32 tensors only", self.name());
        };
        for (r, row) in y.chunks_mut(t).enumerate() {
            let m = &mask[(r / (heads * t)) * t..][..t];
            let mut max = f32::NEG_INFINITY;
            for (v, m) in row.iter_mut().zip(m) {
                *v = *v * self.scale + m;
                max = max.max(*v);
            }
            let mut total = 0f32;
            for v in row.iter_mut() {
                *v = (*v - max).exp();
                total += *v;
            }
            row.iter_mut().for_each(|v| *v /= total);
        }
        Ok((CpuStorage::F32(y), Shape::from((batch, heads, t, t))))
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
        let (mut scores, (batch, heads, t)) = scores_storage(s1, l1, s2, l2, self.name())?;
        let mask = gpu::view::<f32>(s3, l3, self.name())?;
        if mask.len() != batch * t {
            candle_core::bail!("{}: mask of {} for {batch} x {t} keys", self.name(), mask.len());
        }
        let dev = scores.device().clone();
        let rows = count_u32(batch * heads * t, self.name())?;
        let (cols, per_item) = (count_u32(t, self.name())?, count_u32(heads * t, self.name())?);
        {
            let s = scores.as_cuda_slice_mut::<f32>()?;
            // SAFETY: scores has rows · cols elements, mask batch · cols (checked above).
            launch!(
                dev,
                "scaled_masked_softmax_f32",
                gpu::rows(rows),
                s,
                &mask,
                &rows,
                &cols,
                &per_item,
                &self.scale,
            );
        }
        Ok((scores, Shape::from((batch, heads, t, t))))
    }

    fn bwd(
        &self,
        q: &Tensor,
        k: &Tensor,
        _mask: &Tensor,
        res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let (q, k) = (q.detach(), k.detach());
        let scores_grad = softmax_grad(res, grad, self.scale)?;
        let dq = scores_grad.matmul(&k)?;
        let dk = scores_grad.transpose(2, 3)?.matmul(&q)?;
        Ok((Some(dq), Some(dk), None))
    }
}

/// The gradient of `softmax(scale · x)` over the last dimension, from its f32 output `y` and
/// the output gradient `dy`, computed without a graph.
pub(crate) fn softmax_grad(y: &Tensor, dy: &Tensor, scale: f32) -> Result<Tensor> {
    y.detach().contiguous()?.apply_op2_no_bwd(&dy.detach().contiguous()?, &SoftmaxBwd { scale })
}

/// Attention probabilities `softmax(q·kᵀ · scale + mask)` as one graph node, `[B, heads, T,
/// T]` in f32 whatever the inputs' dtype, from queries and keys `[B, heads, T, d]` and an
/// additive key mask `[B, T]` (f32 inputs fused; other dtypes composed). The mask gets no
/// gradient.
pub fn attention_probs(q: &Tensor, k: &Tensor, mask: &Tensor, scale: f64) -> Result<Tensor> {
    let (batch, t) = mask.dims2()?;
    if [q.dtype(), k.dtype(), mask.dtype()].iter().all(|d| *d == DType::F32) {
        let op = AttentionProbs { scale: scale as f32 };
        return q.contiguous()?.apply_op3(&k.contiguous()?, &mask.contiguous()?, op);
    }
    let scores = (q.matmul(&k.t()?)? * scale)?.to_dtype(DType::F32)?;
    let scores = scores.broadcast_add(&mask.to_dtype(DType::F32)?.reshape((batch, 1, 1, t))?)?;
    candle_nn::ops::softmax(&scores, D::Minus1)
}

// ----------------------------------------------------------------------------------------------
// Max over ranges of positions

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

// ----------------------------------------------------------------------------------------------
// Losses

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
    let softplus = logits.abs()?.neg()?.exp()?.affine(1.0, 1.0)?.log()?;
    (logits.relu()? - (logits * targets)?)? + softplus
}

// ----------------------------------------------------------------------------------------------
// f_a's per-query statistics

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

// ----------------------------------------------------------------------------------------------
// Inference: a matrix product's bias folded into the elementwise step after it

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
    fn erf_is_within_4e7_of_the_f64_erf_everywhere() {
        let mut worst = (0.0f64, 0.0f32);
        for i in -700_000..=700_000 {
            let x = i as f32 * 1e-5;
            let err = (f64::from(erf(x)) - candle_core::cpu::erf::erf_f64(f64::from(x))).abs();
            if err > worst.0 {
                worst = (err, x);
            }
            assert_eq!(erf(-x), -erf(x), "odd at {x}");
        }
        assert!(worst.0 < 4e-7, "error {} at {}", worst.0, worst.1);
        assert_eq!((erf(4.0), erf(-1e30), erf(f32::INFINITY)), (1.0, -1.0, 1.0));
        assert_eq!(erf(0.0), 0.0);
        assert!(erf(f32::NAN).is_nan(), "a NaN must reach the loss check");
    }

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
