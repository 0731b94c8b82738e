//! Fused training operations with their own backward passes: dropout, layer norm, erf GELU,
//! linear layers (optionally split into attention heads), attention probabilities, max over
//! ranges of positions, f_a's per-query statistics, cross-entropy and binary cross-entropy;
//! and two inference-only steps (bias + residual + layer norm, bias + GELU).
//!
//! Composed from candle's elementary ops, a layer norm, a softmax or a dropout is several
//! kernels forward and more backward; and in candle's backward pass every node of the graph,
//! views included, costs two more (a zero gradient and an add). The step is bound by kernel
//! launches and host work, not arithmetic (docs/BENCHMARKS.md, "Figures that were code
//! comments"). Here
//! each is one graph node, with one to three kernels forward and backward, on the CPU and,
//! with the `cuda` feature, on the GPU (fused.cu beside this file; matrix products through candle's
//! storage, i.e. cuBLAS and gemm).
//!
//! Dropout draws its mask from a counter-based hash of the element's index and a 64-bit key
//! instead of a random-number generator's state: the backward pass recomputes the mask instead
//! of storing it, the mask is the same on the CPU and the GPU, and a [`DropoutStream`] seeded
//! from the training seed makes a run repeatable on either (candle's CPU dropout cannot be
//! seeded).
//!
//! Only f32 has kernels; other dtypes take candle's composed ops or are computed in f32.

//! The folder holds one file per op family, each fast op beside the slow composed reference
//! that tests/model/fused.rs and tests/cuda.rs compare it with (`layer_norm_slow` beside
//! `layer_norm`, as candle-nn keeps `rms_norm_slow` beside `rms_norm`; GELU and cross-entropy
//! are compared with candle's own `gelu_erf` and `cross_entropy`):
//!
//! | file | ops |
//! |---|---|
//! | `dropout.rs` | dropout and its seeded key stream |
//! | `layer_norm.rs` | layer norm (training), its gradients |
//! | `gelu.rs` | erf GELU |
//! | `linear.rs` | linear layers, optionally split into heads |
//! | `attention.rs` | masked, scaled attention probabilities; a softmax's gradient |
//! | `range_max.rs` | max over ranges of positions (span and context pooling) |
//! | `losses.rs` | cross-entropy, binary cross-entropy with logits |
//! | `query_stats.rs` | f_a's per-query statistics |
//! | `inference.rs` | inference-only steps: bias + residual + layer norm, bias + GELU, bias + split into heads |
//! | `grads.rs` | [`WeightGrads`], the weight-gradient side channel |
//! | `layer_node.rs` | a whole training layer as one graph node |
//! | `graphs.rs` | CUDA graphs of the inference encoder stage |
//!
//! This file holds what they share: the launch macro for fused.cu's kernels and the storage
//! helpers.

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

mod attention;
mod dropout;
mod gelu;
mod grads;
pub mod graphs;
mod inference;
pub(crate) mod layer_node;
mod layer_norm;
mod linear;
mod losses;
mod query_stats;
mod range_max;

pub(crate) use attention::softmax_grad;
pub use attention::{attention_probs, attention_probs_slow};
pub use dropout::{dropout, DropoutStream};
pub use gelu::gelu_erf;
pub(crate) use gelu::gelu_grad;
use gelu::normal_cdf;
use grads::node_grads;
pub use grads::WeightGrads;
pub(crate) use inference::{bias_gelu, bias_residual_layer_norm, bias_split_heads};
#[cfg(feature = "cuda")]
pub(crate) use layer_norm::layer_norm_cuda;
use layer_norm::{check_params, row_stats};
pub(crate) use layer_norm::{column_sums, layer_norm_cpu, layer_norm_grads};
pub use layer_norm::{layer_norm, layer_norm_slow};
pub(crate) use linear::linear_grads;
pub use linear::{linear, linear_slow};
pub use losses::{bce_with_logits, bce_with_logits_slow, cross_entropy};
pub use query_stats::{query_stats, query_stats_slow};
pub use range_max::{range_max, range_max_slow};

fn start_of(l: &Layout, op: &str) -> Result<usize> {
    Ok(start_end(l, op)?.start)
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
