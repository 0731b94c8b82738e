//! Span candidates: every word span of width `1..=max_width` over the kept words, with its
//! word-piece range (docs/MODEL.md, eq. 1; docs/DESIGN.md §1 "Candidates").

use std::ops::Range;

/// One candidate span: words `[start, end)` and the word pieces they cover.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpanCandidate {
    /// First word.
    pub start: usize,
    /// One past the last word.
    pub end: usize,
    /// Positions of the span's pieces in the encoded sequence (`[CLS]` is position 0).
    pub pieces: Range<usize>,
}

impl SpanCandidate {
    /// Width in words, the index of the width embedding `w_k` (eq. 1, 6).
    pub fn width(&self) -> usize {
        self.end - self.start
    }
}

/// The piece range of words `[start, end)`, given each word's pieces; empty when the words
/// are out of range.
pub fn span_pieces(word_pieces: &[Range<usize>], start: usize, end: usize) -> Range<usize> {
    match (word_pieces.get(start), end.checked_sub(1).and_then(|e| word_pieces.get(e))) {
        (Some(first), Some(last)) if start < end => first.start..last.end.max(first.start),
        _ => 0..0,
    }
}

/// Every span of width `1..=max_width` over `word_pieces.len()` words, ordered by start word,
/// then width.
pub fn span_candidates(word_pieces: &[Range<usize>], max_width: usize) -> Vec<SpanCandidate> {
    let words = word_pieces.len();
    let mut spans = Vec::with_capacity(candidate_count(words, max_width));
    for start in 0..words {
        for end in start + 1..=(start + max_width).min(words) {
            spans.push(SpanCandidate { start, end, pieces: span_pieces(word_pieces, start, end) });
        }
    }
    spans
}

/// How many candidates `n` words give: the sum over widths `k <= max_width` of `n - k + 1`.
pub fn candidate_count(words: usize, max_width: usize) -> usize {
    (1..=max_width.min(words)).map(|k| words - k + 1).sum()
}

/// The localized context of a pair (eq. 4): the pieces strictly between the two spans, empty
/// when they touch or overlap.
pub fn context_pieces(a: &Range<usize>, b: &Range<usize>) -> Range<usize> {
    let start = a.end.min(b.end);
    let end = a.start.max(b.start);
    if start < end {
        start..end
    } else {
        0..0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pieces(lengths: &[usize]) -> Vec<Range<usize>> {
        let mut at = 1;
        lengths
            .iter()
            .map(|n| {
                at += n;
                at - n..at
            })
            .collect()
    }

    #[test]
    fn counts_match_the_sum_over_widths() {
        for words in 0..25 {
            for max_width in 1..12 {
                let spans = span_candidates(&pieces(&vec![1; words]), max_width);
                let expected: usize = (1..=max_width).map(|k| words.saturating_sub(k - 1)).sum();
                let expected = if words == 0 { 0 } else { expected };
                assert_eq!(spans.len(), expected, "{words} words, width {max_width}");
                assert_eq!(candidate_count(words, max_width), expected);
            }
        }
    }

    #[test]
    fn spans_map_to_piece_ranges() {
        let wp = pieces(&[1, 3, 2]); // word 0: 1..2, word 1: 2..5, word 2: 5..7
        let spans = span_candidates(&wp, 10);
        let ranges: Vec<_> = spans.iter().map(|s| (s.start, s.end, s.pieces.clone())).collect();
        assert_eq!(
            ranges,
            vec![
                (0, 1, 1..2),
                (0, 2, 1..5),
                (0, 3, 1..7),
                (1, 2, 2..5),
                (1, 3, 2..7),
                (2, 3, 5..7)
            ]
        );
        assert_eq!(span_pieces(&wp, 2, 4), 0..0);
    }

    #[test]
    fn context_is_between_the_spans() {
        assert_eq!(context_pieces(&(1..3), &(5..7)), 3..5);
        assert_eq!(context_pieces(&(5..7), &(1..3)), 3..5);
        assert_eq!(context_pieces(&(1..3), &(3..7)), 0..0);
        assert_eq!(context_pieces(&(1..6), &(3..4)), 0..0);
    }
}
