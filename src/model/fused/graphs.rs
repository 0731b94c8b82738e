//! CUDA graphs for the encoder stage of inference.
//!
//! An encoder pass at batch 1 is hundreds of kernels and matrix products, and the host takes
//! longer to queue each one through candle than the device takes to run most of them, so the
//! device waits on the host (docs/BENCHMARKS.md, "Figures that were code comments"). A CUDA
//! graph records the pass once for a batch shape (sentences x pieces) and replays it with one
//! launch. The replay reads its inputs from buffers of its own, which get each batch's word
//! pieces and mask first, and its outputs are copied into fresh tensors, so a caller may keep
//! an [`Encoding`](crate::model::aspert::Encoding) as long as it likes.
//!
//! A shape is recorded the second time it is seen (a shape seen once never pays for the
//! recording, which costs more than a direct pass), for inference copies of a model
//! only (their weights never change place), on the thread that recorded it (candle's device
//! uses the calling thread's stream). Recorded graphs are kept up to a budget of output memory,
//! least recently used first out. Anything that fails while recording falls back to the direct
//! pass for that shape, with a warning in the log. `--no-cuda-graphs` turns graphs off.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use candle_core::{Device, Result, Tensor};

use crate::model::batch::PieceBatch;

static ENABLED: AtomicBool = AtomicBool::new(true);
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// Turns the recording and replay of encoder graphs on or off (on by default).
pub fn set_enabled(on: bool) {
    ENABLED.store(on, Ordering::Relaxed);
}

/// Whether encoder graphs are recorded and replayed.
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// A fresh identity for a model's weights: graphs recorded for one never replay for another.
pub(crate) fn next_model_id() -> u64 {
    NEXT_ID.fetch_add(1, Ordering::Relaxed)
}

/// What the encoder stage makes: hidden states, stacked attention probabilities, and the f_a
/// statistics when the model has f_a.
pub(crate) type EncoderOutputs = (Tensor, Tensor, Option<Tensor>);

/// The encoder stage of `batch` through a recorded graph, when `device` is a GPU, graphs are
/// on and this shape has a graph or is seen for the second time (`None`: run it directly).
/// `direct` runs the stage without a graph; it must not read `batch`'s host fields beyond its
/// shape (a graph replays the device work alone).
pub(crate) fn encode(
    model: u64,
    batch: &PieceBatch,
    device: &Device,
    direct: impl Fn(&PieceBatch) -> Result<EncoderOutputs>,
) -> Result<Option<EncoderOutputs>> {
    if !enabled() || !device.is_cuda() {
        return Ok(None);
    }
    #[cfg(feature = "cuda")]
    {
        cuda::encode(model, batch, device, direct)
    }
    #[cfg(not(feature = "cuda"))]
    {
        let _ = (model, batch, direct);
        Ok(None)
    }
}

/// Graphs recorded on this thread (for tests and diagnostics).
pub fn recorded() -> usize {
    #[cfg(feature = "cuda")]
    {
        cuda::recorded()
    }
    #[cfg(not(feature = "cuda"))]
    {
        0
    }
}

#[cfg(feature = "cuda")]
mod cuda {
    use std::cell::RefCell;
    use std::collections::{HashMap, HashSet};

    use candle_core::cuda_backend::cudarc::driver::{sys, CudaGraph};
    use candle_core::cuda_backend::WrapErr;
    use candle_core::{Device, Result, Tensor};

    use super::EncoderOutputs;
    use crate::model::batch::PieceBatch;

    /// Output memory the recorded graphs of a thread may hold (each keeps its last outputs).
    const BUDGET_BYTES: usize = 512 << 20;

    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    struct Key {
        model: u64,
        sentences: usize,
        pieces: usize,
        tf32: bool,
    }

    /// Fields drop in order: the tensors (the graph's memory), then the graph.
    struct Recorded {
        outputs: EncoderOutputs,
        input_ids: Tensor,
        attention_mask: Tensor,
        graph: CudaGraph,
        bytes: usize,
        last_used: u64,
    }

    #[derive(Default)]
    struct Cache {
        graphs: HashMap<Key, Recorded>,
        seen: HashSet<Key>,
        failed: HashSet<Key>,
        bytes: usize,
        clock: u64,
    }

    thread_local! {
        static CACHE: RefCell<Cache> = RefCell::default();
    }

    pub(super) fn recorded() -> usize {
        CACHE.with(|c| c.borrow().graphs.len())
    }

    fn bytes(t: &Tensor) -> usize {
        t.elem_count() * t.dtype().size_in_bytes()
    }

    /// Fresh copies of a replay's outputs: the next replay writes over the graph's own.
    fn fresh((hidden, attentions, fa): &EncoderOutputs) -> Result<EncoderOutputs> {
        Ok((hidden.copy()?, attentions.copy()?, fa.as_ref().map(Tensor::copy).transpose()?))
    }

    pub(super) fn encode(
        model: u64,
        batch: &PieceBatch,
        device: &Device,
        direct: impl Fn(&PieceBatch) -> Result<EncoderOutputs>,
    ) -> Result<Option<EncoderOutputs>> {
        let Device::Cuda(cuda) = device else { return Ok(None) };
        // A recording allocates through the stream-ordered allocator; without it, no graphs.
        if !cuda.cuda_stream().context().has_async_alloc() {
            return Ok(None);
        }
        let (sentences, pieces) = batch.input_ids.dims2()?;
        let key =
            Key { model, sentences, pieces, tf32: candle_core::cuda::gemm_reduced_precision_f32() };
        CACHE.with(|cache| {
            let mut cache = cache.borrow_mut();
            cache.clock += 1;
            let now = cache.clock;
            if let Some(entry) = cache.graphs.get_mut(&key) {
                entry.last_used = now;
                entry.input_ids.slice_set(&batch.input_ids, 0, 0)?;
                entry.attention_mask.slice_set(&batch.attention_mask, 0, 0)?;
                entry.graph.launch().w()?;
                return fresh(&entry.outputs).map(Some);
            }
            if cache.failed.contains(&key) {
                return Ok(None);
            }
            // Small uploads (position ids and the like) stay on the device, keyed by their
            // bytes: a recording cannot upload, and finds them there.
            let _uploads = cuda.enable_cuda_graph_htod_cache();
            if cache.seen.insert(key) {
                return direct(batch).map(Some);
            }
            // Second sighting: record, and answer with the recording's first launch.
            match record(cuda, batch, &direct) {
                Ok(entry) => {
                    let outputs = fresh(&entry.outputs)?;
                    cache.bytes += entry.bytes;
                    cache.graphs.insert(key, Recorded { last_used: now, ..entry });
                    while cache.bytes > BUDGET_BYTES && cache.graphs.len() > 1 {
                        let oldest = cache
                            .graphs
                            .iter()
                            .filter(|(k, _)| **k != key)
                            .min_by_key(|(_, r)| r.last_used)
                            .map(|(k, _)| *k);
                        let Some(oldest) = oldest else { break };
                        if let Some(gone) = cache.graphs.remove(&oldest) {
                            cache.bytes -= gone.bytes;
                        }
                    }
                    Ok(Some(outputs))
                }
                Err(e) => {
                    tracing::warn!(
                        "recording the encoder for {sentences} x {pieces} pieces as a CUDA \
                         graph failed, so that shape runs without one: {e}"
                    );
                    cache.failed.insert(key);
                    // Buffers dropped inside a failed recording leave their free's error in
                    // the context, to surface at its next call; it belongs to the recording.
                    if let Err(late) = cuda.cuda_stream().context().check_err() {
                        tracing::warn!("after the failed recording: {late}");
                    }
                    direct(batch).map(Some)
                }
            }
        })
    }

    /// Records the encoder stage on inputs of `batch`'s shape held in buffers of the graph's
    /// own, and launches it once on `batch`'s inputs.
    fn record(
        cuda: &candle_core::CudaDevice,
        batch: &PieceBatch,
        direct: &impl Fn(&PieceBatch) -> Result<EncoderOutputs>,
    ) -> Result<Recorded> {
        let own = PieceBatch {
            input_ids: batch.input_ids.copy()?,
            attention_mask: batch.attention_mask.copy()?,
            lengths: batch.lengths.clone(),
            word_pieces: batch.word_pieces.clone(),
        };
        let stream = cuda.cuda_stream();
        // Relaxed: other threads (a background fine-tuning run) may allocate meanwhile.
        stream.begin_capture(sys::CUstreamCaptureMode::CU_STREAM_CAPTURE_MODE_RELAXED).w()?;
        let outputs = direct(&own);
        // The capture ends whether or not the pass failed, or the stream stays in it.
        let graph = stream.end_capture(
            sys::CUgraphInstantiate_flags::CUDA_GRAPH_INSTANTIATE_FLAG_AUTO_FREE_ON_LAUNCH,
        );
        let outputs = outputs?;
        let graph = graph
            .w()?
            .ok_or_else(|| candle_core::Error::Msg("the recording made no graph".into()))?;
        // One launch now, so that the outputs' memory exists from here on (a graph allocates
        // it when launched) and freeing it with the tensors is always valid.
        graph.launch().w()?;
        let bytes = [&outputs.0, &outputs.1, &own.input_ids, &own.attention_mask]
            .into_iter()
            .chain(outputs.2.as_ref())
            .map(bytes)
            .sum();
        Ok(Recorded {
            outputs,
            input_ids: own.input_ids,
            attention_mask: own.attention_mask,
            graph,
            bytes,
            last_used: 0,
        })
    }
}
