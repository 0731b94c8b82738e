//! Sentences longer than the encoder: prediction in overlapping windows (docs/DESIGN-NOTES.md,
//! "Long sentences"). Each candidate span is classified in the one window that holds it
//! farthest from the window's edges, so it gets exactly one score; each pair of entities is
//! classified in the window that holds both farthest from its edges. What no window holds (a
//! pair further apart than a window, a span wider than the overlap) is not scored; the
//! prediction's notes and the log say so, once per sentence.

use std::cmp::Reverse;

use candle_core::{DType, Device, Result};

use super::aspert::Aspert;
use super::batch::{PieceBatch, SpanBatch};
use super::candidates::{candidate_count, span_candidates, span_pieces, SpanCandidate};
use super::decode::{
    entities_of, pair_probabilities, relations_of, PredictedEntity, SentencePrediction,
};
use crate::data::wordpiece::{Window, WordPieces};
use crate::data::Sentence;

/// The window that holds words `[start, end)` farthest from its edges (the first of equals),
/// if any holds them whole. `windows` are ordered by first word and their ends never decrease,
/// as [`WordPieces::encode_windows`] makes them, so the windows that hold a span are a run.
pub fn best_window(windows: &[Window], start: usize, end: usize) -> Option<usize> {
    let from = windows.partition_point(|w| w.end() < end);
    let to = windows.partition_point(|w| w.first <= start);
    (from..to).max_by_key(|&w| ((start - windows[w].first).min(windows[w].end() - end), Reverse(w)))
}

/// Entities and relations of sentence `index` (`tokens`), which is longer than the encoder's
/// `max_pieces`, from its windows; `given` takes the annotated entities in place of the
/// predicted ones, as [`super::decode::predict_relations_between_annotated`] does.
pub(super) fn predict_in_windows(
    model: &Aspert,
    pieces: &WordPieces,
    tokens: &[String],
    given: Option<&Sentence>,
    index: usize,
    batch_size: usize,
    device: &Device,
) -> Result<SentencePrediction> {
    let cfg = model.config();
    let windows = pieces.encode_windows(tokens, cfg.max_pieces);
    let mut notes = vec![format!(
        "its {} words take more than the encoder's {} word pieces: predicted in {} overlapping \
         windows",
        tokens.len(),
        cfg.max_pieces,
        windows.len()
    )];
    let owned: Vec<Vec<SpanCandidate>> = windows
        .iter()
        .enumerate()
        .map(|(w, window)| {
            span_candidates(&window.encoded.word_pieces, cfg.max_span_width)
                .into_iter()
                .filter(|c| {
                    best_window(&windows, window.first + c.start, window.first + c.end) == Some(w)
                })
                .collect()
        })
        .collect();
    let classified: usize = owned.iter().map(Vec::len).sum();
    let all = candidate_count(tokens.len(), cfg.max_span_width);
    if classified < all {
        notes.push(format!(
            "{} of its {all} candidate spans lie in no window (a span wider than half a \
             window, or a word longer than a window) and are not classified",
            all - classified
        ));
    }

    let (candidates, probabilities) =
        span_probabilities(model, pieces, &windows, &owned, batch_size, device)?;
    let found = entities_of(model, &candidates, &probabilities, given);
    let entities: Vec<PredictedEntity> = found.into_iter().map(|(_, e)| e).collect();
    let relations = if cfg.relation_types.is_empty() || entities.len() < 2 {
        Vec::new()
    } else {
        let (pairs, scores) = pair_scores(model, pieces, &windows, &entities, batch_size, device)?;
        let all = entities.len() * (entities.len() - 1);
        if pairs.len() < all {
            notes.push(format!(
                "{} of its {all} ordered entity pairs are further apart than the encoder's \
                 window of {} word pieces, and their relations are not classified",
                all - pairs.len(),
                cfg.max_pieces
            ));
        }
        relations_of(model, &entities, &pairs, &scores)
    };
    for note in &notes {
        tracing::warn!("sentence {index}: {note}");
    }
    Ok(SentencePrediction { entities, relations, notes })
}

/// The owned candidates of every window in sentence words, ordered by start then end, with
/// their class probabilities, `batch_size` windows per encoder pass.
fn span_probabilities(
    model: &Aspert,
    pieces: &WordPieces,
    windows: &[Window],
    owned: &[Vec<SpanCandidate>],
    batch_size: usize,
    device: &Device,
) -> Result<(Vec<SpanCandidate>, Vec<Vec<f32>>)> {
    let busy: Vec<usize> = (0..windows.len()).filter(|&w| !owned[w].is_empty()).collect();
    let mut scored: Vec<(SpanCandidate, Vec<f32>)> = Vec::new();
    for chunk in busy.chunks(batch_size.max(1)) {
        let encoded: Vec<_> = chunk.iter().map(|&w| &windows[w].encoded).collect();
        let batch = PieceBatch::from_encoded(&encoded, pieces.pad_id, device)?;
        let enc = model.encode(&batch, false)?;
        let lists: Vec<Vec<SpanCandidate>> = chunk.iter().map(|&w| owned[w].clone()).collect();
        let spans = SpanBatch::from_candidates(&lists);
        let repr = model.span_representations(&enc, &spans)?;
        let probs = candle_nn::ops::softmax_last_dim(&model.span_logits(&enc, &repr, false)?)?
            .to_dtype(DType::F32)?
            .to_vec3::<f32>()?;
        for ((&w, list), rows) in chunk.iter().zip(lists).zip(probs) {
            let first = windows[w].first;
            for (c, row) in list.into_iter().zip(rows) {
                let span = SpanCandidate { start: first + c.start, end: first + c.end, ..c };
                scored.push((span, row));
            }
        }
    }
    scored.sort_by_key(|(c, _)| (c.start, c.end));
    Ok(scored.into_iter().unzip())
}

/// Ordered entity pairs, and each pair's sigmoid per relation type.
type ScoredPairs = (Vec<(usize, usize)>, Vec<Vec<f32>>);

/// Every ordered pair of distinct entities that some window holds, as entity indices, with the
/// relation sigmoids from the window that holds it farthest from its edges.
fn pair_scores(
    model: &Aspert,
    pieces: &WordPieces,
    windows: &[Window],
    entities: &[PredictedEntity],
    batch_size: usize,
    device: &Device,
) -> Result<ScoredPairs> {
    // Per window: the entities it holds whole, and the pairs of them (indices into that list)
    // that it classifies. Entities are ordered by start, so those starting in a window are a run.
    let mut members: Vec<Vec<usize>> = Vec::with_capacity(windows.len());
    let mut owned: Vec<Vec<(usize, usize)>> = Vec::with_capacity(windows.len());
    for (w, window) in windows.iter().enumerate() {
        let from = entities.partition_point(|e| e.start < window.first);
        let to = entities.partition_point(|e| e.start < window.end());
        let held: Vec<usize> = (from..to).filter(|&e| entities[e].end <= window.end()).collect();
        let mut pairs = Vec::new();
        for (h, &eh) in held.iter().enumerate() {
            for (t, &et) in held.iter().enumerate().filter(|&(t, _)| t != h) {
                let (a, b) = (&entities[eh], &entities[et]);
                let (start, end) = (a.start.min(b.start), a.end.max(b.end));
                if best_window(windows, start, end) == Some(w) {
                    pairs.push((h, t));
                }
            }
        }
        members.push(held);
        owned.push(pairs);
    }
    let scored: usize = owned.iter().map(Vec::len).sum();
    // The windows are encoded again rather than kept from the span pass: a sentence of 100,000
    // words has hundreds, and only those holding a pair are needed.
    let busy: Vec<usize> = (0..windows.len()).filter(|&w| !owned[w].is_empty()).collect();
    let mut pairs = Vec::with_capacity(scored);
    let mut scores = Vec::with_capacity(scored);
    for chunk in busy.chunks(batch_size.max(1)) {
        let encoded: Vec<_> = chunk.iter().map(|&w| &windows[w].encoded).collect();
        let batch = PieceBatch::from_encoded(&encoded, pieces.pad_id, device)?;
        let enc = model.encode(&batch, false)?;
        let local = |w: usize, e: usize| {
            let (first, word_pieces) = (windows[w].first, &windows[w].encoded.word_pieces);
            span_pieces(word_pieces, entities[e].start - first, entities[e].end - first)
        };
        let spans = SpanBatch {
            pieces: chunk
                .iter()
                .map(|&w| members[w].iter().map(|&e| local(w, e)).collect())
                .collect(),
            widths: chunk
                .iter()
                .map(|&w| members[w].iter().map(|&e| entities[e].end - entities[e].start).collect())
                .collect(),
        };
        let repr = model.span_representations(&enc, &spans)?;
        let lists: Vec<Vec<(usize, usize)>> = chunk.iter().map(|&w| owned[w].clone()).collect();
        let probs = pair_probabilities(model, &enc, &repr, &spans, &lists)?;
        for ((&w, list), rows) in chunk.iter().zip(&lists).zip(probs) {
            for (&(h, t), row) in list.iter().zip(rows) {
                pairs.push((members[w][h], members[w][t]));
                scores.push(row);
            }
        }
    }
    Ok((pairs, scores))
}
