//! [`EncoderPath::Packed`]: inference over sentences laid end to end, with no padding. The
//! dense products of a layer run once over `[total pieces, hidden]` rows; attention, the only
//! step that mixes pieces, runs within each run of consecutive equal-length sentences, which
//! needs no mask. Taken on the CPU, where every padded row costs its full arithmetic; the GPU
//! keeps the padded batches its recorded graphs replay.

use candle_core::{DType, Tensor};

use super::{BertEncoder, EncoderPath};

/// Consecutive sentences of one length within a packed pass, attended together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PackedRun {
    /// Index of the run's first sentence among the pass's sentences.
    pub first: usize,
    /// Sentences in the run.
    pub count: usize,
    /// Pieces of each of them.
    pub length: usize,
    /// Row of the run's first piece in the packed rows.
    pub offset: usize,
}

impl PackedRun {
    /// The runs of `lengths`: consecutive sentences of equal length share one. Sorting the
    /// sentences by length first makes the runs few.
    pub fn of(lengths: &[usize]) -> Vec<PackedRun> {
        let mut runs: Vec<PackedRun> = Vec::new();
        let mut offset = 0;
        for (i, &length) in lengths.iter().enumerate() {
            match runs.last_mut() {
                Some(run) if run.length == length => run.count += 1,
                _ => runs.push(PackedRun { first: i, count: 1, length, offset }),
            }
            offset += length;
        }
        runs
    }
}

/// What a packed pass returns.
#[derive(Debug, Clone)]
pub struct PackedOutput {
    /// Last layer's hidden states of every piece, the sentences end to end, `[N, hidden]`.
    pub hidden: Tensor,
    /// The runs the attention was computed in.
    pub runs: Vec<PackedRun>,
}

impl BertEncoder {
    /// Whether [`BertEncoder::forward_packed`] can run: frozen f32 weights with erf GELU (the
    /// lean layers), on the CPU.
    pub fn packs(&self) -> bool {
        self.paths.packed
    }

    /// Runs the encoder over `sequences` laid end to end ([`EncoderPath::Packed`]; no
    /// dropout). `on_probs(layer, run, probs)` receives each layer's attention probabilities of
    /// each run, `[count, heads, length, length]` f32, as the pass computes them: they are
    /// not kept, so a caller that needs only statistics of them holds no `[B, layers, heads,
    /// T, T]` tensor. The returned rows equal those of [`BertEncoder::forward`] on the padded
    /// batch, up to the order of floating-point sums.
    pub fn forward_packed(
        &self,
        sequences: &[&[u32]],
        mut on_probs: impl FnMut(usize, usize, &Tensor) -> candle_core::Result<()>,
    ) -> candle_core::Result<PackedOutput> {
        if !self.paths.packed {
            candle_core::bail!(
                "the {} path needs frozen f32 weights with erf GELU on the CPU; this encoder \
                 takes the {} path",
                EncoderPath::Packed,
                self.paths.plain
            );
        }
        self.check_ids(sequences)?;
        if sequences.iter().any(|s| s.is_empty()) || sequences.is_empty() {
            candle_core::bail!("cannot encode an empty batch or empty sequences");
        }
        let lengths: Vec<usize> = sequences.iter().map(|s| s.len()).collect();
        let total: usize = lengths.iter().sum();
        let ids: Vec<u32> = sequences.iter().flat_map(|s| s.iter().copied()).collect();
        let positions: Vec<u32> = lengths.iter().flat_map(|&t| 0..t as u32).collect();
        let device = self.device();
        let mut x = self.embeddings.forward_rows(
            &Tensor::from_vec(ids, total, device)?,
            &Tensor::from_vec(positions, total, device)?,
        )?;
        let runs = PackedRun::of(&lengths);
        for (l, layer) in self.layers.iter().enumerate() {
            let _enter = layer.span.enter();
            x = layer.forward_packed(&x, &runs, &mut |r, probs| on_probs(l, r, probs))?;
        }
        if x.dtype() != DType::F32 {
            candle_core::bail!("the packed path runs in f32");
        }
        Ok(PackedOutput { hidden: x, runs })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_group_consecutive_equal_lengths_and_count_rows() {
        let runs = PackedRun::of(&[3, 3, 5, 3]);
        assert_eq!(
            runs,
            [
                PackedRun { first: 0, count: 2, length: 3, offset: 0 },
                PackedRun { first: 2, count: 1, length: 5, offset: 6 },
                PackedRun { first: 3, count: 1, length: 3, offset: 11 },
            ]
        );
        assert!(PackedRun::of(&[]).is_empty());
    }
}
