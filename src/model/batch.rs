//! Padded batches: word pieces of several sentences, the spans to classify and the entity
//! pairs to relate.

use std::borrow::Borrow;
use std::ops::Range;

use candle_core::{Device, Result, Tensor};

use super::candidates::{context_pieces, SpanCandidate};
use super::encoder::pad_batch;
use crate::data::wordpiece::EncodedSentence;

/// Word pieces of a batch of sentences, padded to the longest.
#[derive(Debug, Clone)]
pub struct PieceBatch {
    /// `[B, T]` u32 word-piece ids, `[CLS] ... [SEP]` then padding.
    pub input_ids: Tensor,
    /// `[B, T]` u32, 1 on real pieces (`[CLS]` and `[SEP]` included), 0 on padding.
    pub attention_mask: Tensor,
    /// Real pieces per sentence.
    pub lengths: Vec<usize>,
    /// Per sentence, the piece range of each kept word.
    pub word_pieces: Vec<Vec<Range<usize>>>,
}

impl PieceBatch {
    /// Pads id sequences (each `[CLS] ... [SEP]`) into one batch.
    pub fn from_ids(
        ids: &[Vec<u32>],
        word_pieces: Vec<Vec<Range<usize>>>,
        pad_id: u32,
        device: &Device,
    ) -> Result<Self> {
        if ids.len() != word_pieces.len() {
            candle_core::bail!("{} sequences but {} word maps", ids.len(), word_pieces.len());
        }
        let (input_ids, attention_mask) = pad_batch(ids, pad_id, device)?;
        Ok(Self {
            input_ids,
            attention_mask,
            lengths: ids.iter().map(Vec::len).collect(),
            word_pieces,
        })
    }

    /// Pads encoded sentences into one batch.
    pub fn from_encoded<E: Borrow<EncodedSentence>>(
        encoded: &[E],
        pad_id: u32,
        device: &Device,
    ) -> Result<Self> {
        let ids: Vec<Vec<u32>> = encoded.iter().map(|e| e.borrow().ids.clone()).collect();
        let words = encoded.iter().map(|e| e.borrow().word_pieces.clone()).collect();
        Self::from_ids(&ids, words, pad_id, device)
    }

    /// Number of sentences.
    pub fn len(&self) -> usize {
        self.lengths.len()
    }

    /// Whether the batch has no sentence.
    pub fn is_empty(&self) -> bool {
        self.lengths.is_empty()
    }
}

/// The spans to classify, per sentence of a [`PieceBatch`]: piece ranges and widths in words.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SpanBatch {
    /// Per sentence, each span's piece range.
    pub pieces: Vec<Vec<Range<usize>>>,
    /// Per sentence, each span's width in words (the width embedding's index).
    pub widths: Vec<Vec<usize>>,
}

impl SpanBatch {
    /// Spans from candidate lists, one list per sentence.
    pub fn from_candidates(candidates: &[Vec<SpanCandidate>]) -> Self {
        Self {
            pieces: candidates
                .iter()
                .map(|c| c.iter().map(|s| s.pieces.clone()).collect())
                .collect(),
            widths: candidates
                .iter()
                .map(|c| c.iter().map(SpanCandidate::width).collect())
                .collect(),
        }
    }

    /// The longest span list, the `S` of `[B, S, ..]` outputs.
    pub fn max_spans(&self) -> usize {
        self.pieces.iter().map(Vec::len).max().unwrap_or(0)
    }
}

/// Ordered entity pairs per sentence, as indices into that sentence's [`SpanBatch`] list.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PairBatch {
    /// Per sentence, `(head span, tail span)`.
    pub pairs: Vec<Vec<(usize, usize)>>,
}

impl PairBatch {
    /// The longest pair list, the `P` of `[B, P, R]` outputs.
    pub fn max_pairs(&self) -> usize {
        self.pairs.iter().map(Vec::len).max().unwrap_or(0)
    }

    /// Per sentence, each pair's localized context (eq. 4): the pieces strictly between the
    /// two spans, empty when they touch or overlap.
    pub fn contexts(&self, spans: &SpanBatch) -> Result<Vec<Vec<Range<usize>>>> {
        self.pairs
            .iter()
            .enumerate()
            .map(|(b, list)| {
                let ranges = spans.pieces.get(b).map(Vec::as_slice).unwrap_or(&[]);
                list.iter()
                    .map(|&(h, t)| match (ranges.get(h), ranges.get(t)) {
                        (Some(h), Some(t)) => Ok(context_pieces(h, t)),
                        _ => Err(candle_core::Error::Msg(format!(
                            "pair ({h}, {t}) of sentence {b} names a span beyond its {} spans",
                            ranges.len()
                        ))),
                    })
                    .collect()
            })
            .collect()
    }
}

/// How sentences are batched for the encoder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Batching {
    /// Batches of up to `batch size` sentences, each padded to its longest.
    Padded,
    /// One packed encoder pass per [`PACKED_PIECES`] word pieces, the sentences end to end
    /// with no padding; the span and relation classifiers still take `batch size` sentences
    /// at a time (`Aspert::encode_packed`).
    Packed,
}

/// Word pieces of one packed encoder pass at most: enough for the dense products to keep
/// the cores busy, few enough that the widest activation (the feed-forward block's, 6 KiB a
/// piece for MiniLM) stays below the allocator's largest mmap threshold (src/main.rs).
pub const PACKED_PIECES: usize = 4096;

/// `order` cut into consecutive passes of at most `budget` pieces (`pieces(i)` those of
/// sentence `i`); a sentence longer than the budget is a pass of its own.
pub fn budget_passes(
    order: &[usize],
    pieces: impl Fn(usize) -> usize,
    budget: usize,
) -> Vec<&[usize]> {
    let mut passes = Vec::new();
    let (mut start, mut used) = (0, 0);
    for (k, &i) in order.iter().enumerate() {
        let n = pieces(i);
        if k > start && used + n > budget {
            passes.push(&order[start..k]);
            (start, used) = (k, 0);
        }
        used += n;
    }
    if start < order.len() {
        passes.push(&order[start..]);
    }
    passes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passes_fill_the_budget_in_order_and_keep_a_long_sentence_alone() {
        let lengths = [3, 4, 5, 20, 2];
        let order = [4, 0, 1, 2, 3];
        let passes = budget_passes(&order, |i| lengths[i], 10);
        assert_eq!(passes, [&[4, 0, 1][..], &[2][..], &[3][..]]);
        assert!(budget_passes(&[], |i| lengths[i], 10).is_empty());
    }
}
